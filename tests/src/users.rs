//! The import file of the load generator's synthetic population: pair `i`
//! is `patient_lg{i}` and `medecin_lg{i}` sharing the ordonnance `ord_lg{i}`.
//! Every account gets the same Argon2id verifier, hashed once here, because
//! hashing thousands of passwords (on import or here) would take minutes.

use anyhow::Context as _;
use argon2::password_hash::{rand_core::OsRng, PasswordHasher, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use serde::Serialize;
use std::io::Write;
use std::path::PathBuf;

/// Password of every load-generator account unless told otherwise.
pub const DEFAULT_PASSWORD: &str = "loadgen-password-2026";

/// Arguments of `dmp-loadgen users`.
#[derive(Debug, Clone, clap::Args)]
pub struct UsersArgs {
    /// Number of patient/doctor pairs (one ordonnance each).
    #[arg(long)]
    pub pairs: usize,
    /// Import file to write (for `dmp-server import FILE`).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Password of every account.
    #[arg(long, default_value = DEFAULT_PASSWORD)]
    pub password: String,
}

/// Login name of pair `i`'s patient.
pub fn patient_username(i: usize) -> String {
    format!("lg.patient.{i}")
}

/// Login name of pair `i`'s doctor.
pub fn doctor_username(i: usize) -> String {
    format!("lg.medecin.{i}")
}

/// The ordonnance pair `i` talks about.
pub fn context_id(i: usize) -> String {
    format!("ord_lg{i}")
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ImportUser<'a> {
    id: String,
    #[serde(rename = "type")]
    kind: &'static str,
    name: String,
    username: String,
    password_hash: &'a str,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ImportContext {
    #[serde(rename = "type")]
    kind: &'static str,
    id: String,
    title: String,
    date: &'static str,
    patient_id: String,
    doctor_id: String,
    summary: &'static str,
}

#[derive(Serialize)]
struct ImportFile<'a> {
    users: Vec<ImportUser<'a>>,
    contexts: Vec<ImportContext>,
}

/// Argon2id verifier with the server's parameters (m=19456 KiB, t=2, p=1).
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let params = Params::new(19 * 1024, 2, 1, None)
        .map_err(|e| anyhow::anyhow!("argon2 parameters: {e}"))?;
    let salt = SaltString::generate(&mut OsRng);
    let hash = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password(password.as_bytes(), &salt)
        .map_err(|e| anyhow::anyhow!("argon2: {e}"))?;
    Ok(hash.to_string())
}

/// The import file as JSON, every account sharing `password_hash`.
pub fn import_json(pairs: usize, password_hash: &str) -> anyhow::Result<String> {
    let mut users = Vec::with_capacity(pairs * 2);
    let mut contexts = Vec::with_capacity(pairs);
    for i in 0..pairs {
        users.push(ImportUser {
            id: format!("patient_lg{i}"),
            kind: "patient",
            name: format!("Patient Loadgen {i}"),
            username: patient_username(i),
            password_hash,
        });
        users.push(ImportUser {
            id: format!("medecin_lg{i}"),
            kind: "medecin",
            name: format!("Docteur Loadgen {i}"),
            username: doctor_username(i),
            password_hash,
        });
        contexts.push(ImportContext {
            kind: "ordonnance",
            id: context_id(i),
            title: format!("Ordonnance de charge {i}"),
            date: "2026-01-01",
            patient_id: format!("patient_lg{i}"),
            doctor_id: format!("medecin_lg{i}"),
            summary: "Jeu de test du générateur de charge",
        });
    }
    Ok(serde_json::to_string(&ImportFile { users, contexts })?)
}

/// Writes the import file of `dmp-loadgen users`.
pub fn write_import_file(args: &UsersArgs) -> anyhow::Result<()> {
    anyhow::ensure!(args.pairs > 0, "--pairs must be at least 1");
    let hash = hash_password(&args.password)?;
    let json = import_json(args.pairs, &hash)?;
    let mut file = std::fs::File::create(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    file.write_all(json.as_bytes())?;
    file.write_all(b"\n")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_file_shape() {
        let json = import_json(2, "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA").unwrap();
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["users"].as_array().unwrap().len(), 4);
        assert_eq!(v["users"][1]["id"], "medecin_lg0");
        assert_eq!(v["users"][1]["type"], "medecin");
        assert_eq!(v["users"][1]["username"], "lg.medecin.0");
        assert!(v["users"][1]["passwordHash"]
            .as_str()
            .unwrap()
            .starts_with("$argon2id$"));
        assert_eq!(v["contexts"][1]["id"], "ord_lg1");
        assert_eq!(v["contexts"][1]["patientId"], "patient_lg1");
        assert_eq!(v["contexts"][1]["doctorId"], "medecin_lg1");
        assert_eq!(v["contexts"][1]["type"], "ordonnance");
    }
}
