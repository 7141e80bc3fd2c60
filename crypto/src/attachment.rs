//! Attachment encryption, streamed so that a large file is never held whole in
//! memory: at most two chunks of 64 KiB are buffered at any time.
//!
//! Each file gets a fresh random 32-byte key, which travels only inside the
//! encrypted message ([`crate::AttachmentSecret`]) together with the clear
//! size and SHA-256. The blob that is uploaded is
//!
//! ```text
//! ATTACHMENT_MAGIC (8) || nonce prefix (19, random) || chunk_0 || … || chunk_n
//! ```
//!
//! where every chunk is the STREAM construction (Hoang, Reyhanitabar, Rogaway,
//! Vizár 2015) of `aead::stream::EncryptorBE32<XChaCha20Poly1305>`: the nonce
//! is the prefix, a 32-bit big-endian chunk counter and a last-chunk flag, so
//! a chunk cannot be moved, dropped, duplicated, or the file cut at a chunk
//! boundary without failing authentication. Every chunk holds [`CHUNK_SIZE`]
//! clear bytes except the last, which holds 0 to [`CHUNK_SIZE`] (an empty file
//! is one empty last chunk), followed by a 16-byte tag.

use std::io::{self, Read, Write};

use chacha20poly1305::aead::generic_array::GenericArray;
use chacha20poly1305::aead::stream::{DecryptorBE32, EncryptorBE32};
use chacha20poly1305::aead::KeyInit as _;
use chacha20poly1305::XChaCha20Poly1305;
use rand_core::{CryptoRng, RngCore};
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use crate::encoding::unb64_array;
use crate::{AttachmentSecret, CryptoError};

/// First bytes of every encrypted attachment blob; the server recognizes
/// encrypted uploads by it.
pub const ATTACHMENT_MAGIC: &[u8] = b"DMPENC1\n";
/// Clear bytes per chunk (the last chunk may hold fewer).
pub const CHUNK_SIZE: usize = 64 * 1024;
/// XChaCha20 nonce (24) minus STREAM's 32-bit counter and 1-byte flag.
const NONCE_PREFIX_LEN: usize = 19;
/// Poly1305 tag per chunk.
const TAG_LEN: usize = 16;

/// Encrypts everything `input` yields into `output`, chunk by chunk.
///
/// Returns the fresh file key, the clear size and the lower-case hex SHA-256
/// of the clear bytes: what goes into the message's
/// [`AttachmentSecret`].
pub fn encrypt_attachment<R: Read, W: Write, G: CryptoRng + RngCore>(
    rng: &mut G,
    mut input: R,
    mut output: W,
) -> Result<(Zeroizing<[u8; 32]>, u64, String), CryptoError> {
    let mut key = Zeroizing::new([0u8; 32]);
    rng.fill_bytes(key.as_mut());
    let mut prefix = [0u8; NONCE_PREFIX_LEN];
    rng.fill_bytes(&mut prefix);

    output.write_all(ATTACHMENT_MAGIC)?;
    output.write_all(&prefix)?;

    let mut stream = EncryptorBE32::from_aead(
        XChaCha20Poly1305::new(key.as_ref().into()),
        GenericArray::from_slice(&prefix),
    );
    let mut hasher = Sha256::new();
    let mut size = 0u64;
    // Capacity for the tag up front: growing would leave an unzeroized copy.
    let mut current = Zeroizing::new(Vec::with_capacity(CHUNK_SIZE + TAG_LEN));
    let mut next = Zeroizing::new(Vec::with_capacity(CHUNK_SIZE + TAG_LEN));
    fill(&mut input, &mut current, CHUNK_SIZE)?;
    loop {
        hasher.update(current.as_slice());
        size += current.len() as u64;
        // A short chunk is the last; a full one is the last if nothing follows.
        if current.len() == CHUNK_SIZE {
            fill(&mut input, &mut next, CHUNK_SIZE)?;
        } else {
            next.clear();
        }
        if next.is_empty() {
            stream
                .encrypt_last_in_place(b"", &mut *current)
                .map_err(|_| CryptoError::malformed("attachment: too large"))?;
            output.write_all(&current)?;
            break;
        }
        stream
            .encrypt_next_in_place(b"", &mut *current)
            .map_err(|_| CryptoError::malformed("attachment: too large"))?;
        output.write_all(&current)?;
        std::mem::swap(&mut current, &mut next);
    }
    output.flush()?;
    Ok((key, size, hex::encode(hasher.finalize())))
}

/// Decrypts a blob made by [`encrypt_attachment`] from `input` into `output`
/// and returns the clear size.
///
/// Truncation (anywhere, including at a chunk boundary), reordered or
/// duplicated chunks, appended data, any flipped bit and a wrong key all give
/// `DecryptionFailed` (or `Malformed` for a missing or wrong magic). Chunks
/// are written to `output` as soon as they authenticate, so **on error the
/// caller must discard everything already written** (write to a temporary
/// file and rename it only on success).
pub fn decrypt_attachment<R: Read, W: Write>(
    key: &[u8; 32],
    mut input: R,
    mut output: W,
) -> Result<u64, CryptoError> {
    let mut head = [0u8; 8 + NONCE_PREFIX_LEN];
    input.read_exact(&mut head).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => CryptoError::malformed("attachment: truncated header"),
        _ => CryptoError::from(e),
    })?;
    if &head[..ATTACHMENT_MAGIC.len()] != ATTACHMENT_MAGIC {
        return Err(CryptoError::malformed(
            "attachment: not an encrypted blob (bad magic)",
        ));
    }
    let mut stream = DecryptorBE32::from_aead(
        XChaCha20Poly1305::new(key.into()),
        GenericArray::from_slice(&head[ATTACHMENT_MAGIC.len()..]),
    );
    let mut size = 0u64;
    let mut current = Zeroizing::new(Vec::with_capacity(CHUNK_SIZE + TAG_LEN));
    let mut next = Zeroizing::new(Vec::with_capacity(CHUNK_SIZE + TAG_LEN));
    fill(&mut input, &mut current, CHUNK_SIZE + TAG_LEN)?;
    loop {
        if current.len() == CHUNK_SIZE + TAG_LEN {
            fill(&mut input, &mut next, CHUNK_SIZE + TAG_LEN)?;
        } else {
            next.clear();
        }
        if next.is_empty() {
            stream
                .decrypt_last_in_place(b"", &mut *current)
                .map_err(|_| CryptoError::DecryptionFailed)?;
            output.write_all(&current)?;
            size += current.len() as u64;
            break;
        }
        stream
            .decrypt_next_in_place(b"", &mut *current)
            .map_err(|_| CryptoError::DecryptionFailed)?;
        output.write_all(&current)?;
        size += current.len() as u64;
        std::mem::swap(&mut current, &mut next);
    }
    output.flush()?;
    Ok(size)
}

/// Size of the encrypted blob for a clear file of `clear_size` bytes.
pub fn encrypted_size(clear_size: u64) -> u64 {
    let chunk = CHUNK_SIZE as u64;
    let chunks = clear_size.div_ceil(chunk).max(1);
    clear_size
        .saturating_add(chunks.saturating_mul(TAG_LEN as u64))
        .saturating_add((ATTACHMENT_MAGIC.len() + NONCE_PREFIX_LEN) as u64)
}

impl AttachmentSecret {
    /// The 32-byte file key (`Malformed` if `key` is not 32 bytes of base64url).
    pub fn file_key(&self) -> Result<Zeroizing<[u8; 32]>, CryptoError> {
        unb64_array::<32>(&self.key, "attachment key").map(Zeroizing::new)
    }

    /// [`decrypt_attachment`] with this attachment's key, then checks that the
    /// clear size and SHA-256 are the ones the signed message declared
    /// (`DecryptionFailed` otherwise). The same caveat holds: on error,
    /// discard what was written.
    pub fn decrypt_verified<R: Read, W: Write>(
        &self,
        input: R,
        output: W,
    ) -> Result<u64, CryptoError> {
        let key = self.file_key()?;
        let mut writer = HashingWriter {
            inner: output,
            hasher: Sha256::new(),
        };
        let size = decrypt_attachment(&key, input, &mut writer)?;
        let digest = hex::encode(writer.hasher.finalize());
        if size != self.size || !digest.eq_ignore_ascii_case(&self.sha256) {
            return Err(CryptoError::DecryptionFailed);
        }
        Ok(size)
    }
}

/// Reads until `buf` holds `want` bytes or the input ends.
fn fill<R: Read>(input: &mut R, buf: &mut Vec<u8>, want: usize) -> Result<(), CryptoError> {
    buf.clear();
    buf.resize(want, 0);
    let mut filled = 0;
    while filled < want {
        match input.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
    buf.truncate(filled);
    Ok(())
}

/// A writer that hashes what passes through it.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encrypted_size_formula() {
        let head = 27;
        assert_eq!(encrypted_size(0), head + 16);
        assert_eq!(encrypted_size(1), head + 1 + 16);
        assert_eq!(
            encrypted_size(CHUNK_SIZE as u64),
            head + CHUNK_SIZE as u64 + 16
        );
        assert_eq!(
            encrypted_size(CHUNK_SIZE as u64 + 1),
            head + CHUNK_SIZE as u64 + 1 + 32
        );
        assert_eq!(encrypted_size(u64::MAX), u64::MAX);
    }
}
