# Shared by the scripts that start a private service next to a command
# (with-postgres.sh, with-redis.sh). Source it; it defines:
#   port_candidate       prints a random port below the kernel's ephemeral
#                        range (outgoing connections never take it while a
#                        service starts) and above the well-known ones
#   free_port            prints such a port nobody listens on
#   run_forwarding CMD…  runs CMD in the background, forwards SIGINT/SIGTERM
#                        to it at once, and exits with its status (the
#                        caller's EXIT trap then stops the service)
#   apt_ensure PKG…      installs (apt) those of the Debian packages that are
#                        missing; nothing when all are there

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A port from the ephemeral range could be the source port of any outgoing
# connection on the machine by the time the service binds it (a CI run makes
# thousands): stay between 10000 and the range's start.
port_candidate() {
  local first=32768
  read -r first _ < /proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || true
  ((first > 12000)) || first=32768
  echo $((10000 + RANDOM % (first - 10000)))
}

free_port() {
  local candidate
  for _ in $(seq 1 50); do
    candidate=$(port_candidate)
    if port_free "$candidate"; then echo "$candidate"; return 0; fi
  done
  echo "no free loopback port found" >&2
  return 1
}

run_forwarding() {
  local child status=0
  "$@" &
  child=$!
  # shellcheck disable=SC2064
  trap "kill -INT $child 2>/dev/null; wait $child 2>/dev/null; exit 130" INT
  # shellcheck disable=SC2064
  trap "kill -TERM $child 2>/dev/null; wait $child 2>/dev/null; exit 143" TERM
  wait "$child" || status=$?
  exit "$status"
}

apt_ensure() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  [ "${#missing[@]}" -gt 0 ] || return 0
  printf '==> installing %s\n' "${missing[*]}" >&2
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# A private CA and a loopback server certificate signed by it, for a test
# service: writes DIR/ca.pem (and ca.key), DIR/server.crt and DIR/server.key
# (names localhost and 127.0.0.1; keys 0600).
#   usage: test_certificates DIR "CA common name"
test_certificates() {
  local dir="$1" name="$2"
  openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj "/CN=$name" -keyout "$dir/ca.key" -out "$dir/ca.pem" 2>/dev/null
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
    -keyout "$dir/server.key" -out "$dir/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n' >"$dir/ext.cnf"
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
    -days 2 -extfile "$dir/ext.cnf" -out "$dir/server.crt" 2>/dev/null
  chmod 600 "$dir/server.key" "$dir/ca.key"
}
