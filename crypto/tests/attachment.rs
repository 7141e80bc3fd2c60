//! Attachment encryption: round trips at the chunk boundaries and at 10 MB
//! (streamed through generated input and a hashing output, so the test holds
//! only the ciphertext), streaming behaviour, and rejection of truncated,
//! reordered, duplicated, extended, bit-flipped blobs and wrong keys.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::rc::Rc;

use common::rng;
use dmp_crypto::{
    decrypt_attachment, encrypt_attachment, encrypted_size, AttachmentSecret, CryptoError,
    ATTACHMENT_MAGIC, CHUNK_SIZE,
};
use proptest::prelude::*;
use sha2::{Digest as _, Sha256};

const HEAD: usize = 8 + 19;
const CT_CHUNK: usize = CHUNK_SIZE + 16;

/// Yields `len` pseudo-random bytes without storing them; counts what was read.
struct Generated {
    len: u64,
    pos: u64,
    state: u64,
    read: Rc<Cell<u64>>,
}

impl Generated {
    fn new(len: u64, seed: u64) -> Self {
        Self {
            len,
            pos: 0,
            state: seed | 1,
            read: Rc::new(Cell::new(0)),
        }
    }
}

impl Read for Generated {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // Odd-sized reads, to exercise the chunk filling.
        let n = buf.len().min(7919).min((self.len - self.pos) as usize);
        for b in &mut buf[..n] {
            // xorshift64
            self.state ^= self.state << 13;
            self.state ^= self.state >> 7;
            self.state ^= self.state << 17;
            *b = self.state as u8;
        }
        self.pos += n as u64;
        self.read.set(self.pos);
        Ok(n)
    }
}

/// Hashes and counts what is written, storing nothing.
#[derive(Default)]
struct Hashing {
    hasher: Sha256,
    len: u64,
}

impl Write for Hashing {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.hasher.update(buf);
        self.len += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn sha256_of_generated(len: u64, seed: u64) -> String {
    let mut h = Hashing::default();
    io::copy(&mut Generated::new(len, seed), &mut h).unwrap();
    hex::encode(h.hasher.finalize())
}

fn encrypt(clear: &[u8], seed: u64) -> ([u8; 32], Vec<u8>) {
    let mut out = Vec::new();
    let (key, size, _) = encrypt_attachment(&mut rng(seed), clear, &mut out).unwrap();
    assert_eq!(size, clear.len() as u64);
    (*key, out)
}

fn decrypt(key: &[u8; 32], blob: &[u8]) -> Result<Vec<u8>, CryptoError> {
    let mut out = Vec::new();
    decrypt_attachment(key, blob, &mut out).map(|n| {
        assert_eq!(n, out.len() as u64);
        out
    })
}

fn check_round_trip(len: u64) {
    let seed = len ^ 0xdead_beef;
    let mut blob = Vec::with_capacity(encrypted_size(len) as usize);
    let (key, size, digest) =
        encrypt_attachment(&mut rng(len), Generated::new(len, seed), &mut blob).unwrap();
    assert_eq!(size, len);
    assert_eq!(digest, sha256_of_generated(len, seed), "len {len}");
    assert_eq!(blob.len() as u64, encrypted_size(len), "len {len}");
    assert_eq!(&blob[..8], ATTACHMENT_MAGIC);

    let mut out = Hashing::default();
    let n = decrypt_attachment(&key, blob.as_slice(), &mut out).unwrap();
    assert_eq!(n, len);
    assert_eq!(out.len, len);
    assert_eq!(hex::encode(out.hasher.finalize()), digest);
}

#[test]
fn round_trip_at_chunk_boundaries() {
    let c = CHUNK_SIZE as u64;
    for len in [0, 1, c - 1, c, c + 1, 2 * c, 3 * c - 1] {
        check_round_trip(len);
    }
}

#[test]
fn round_trip_ten_megabytes() {
    check_round_trip(10 * 1024 * 1024);
}

#[test]
fn empty_file_is_one_tag() {
    let (key, blob) = encrypt(b"", 1);
    assert_eq!(blob.len(), HEAD + 16);
    assert_eq!(decrypt(&key, &blob).unwrap(), b"");
}

/// A writer that records how much input had been read at its first write.
struct Probe {
    read: Rc<Cell<u64>>,
    read_at_first_write: Option<u64>,
    written: u64,
}

impl Write for Probe {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.written >= HEAD as u64 && self.read_at_first_write.is_none() {
            self.read_at_first_write = Some(self.read.get());
        }
        self.written += buf.len() as u64;
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

#[test]
fn encryption_streams() {
    let input = Generated::new(10 * CHUNK_SIZE as u64, 3);
    let mut probe = Probe {
        read: input.read.clone(),
        read_at_first_write: None,
        written: 0,
    };
    encrypt_attachment(&mut rng(3), input, &mut probe).unwrap();
    let first = probe.read_at_first_write.unwrap();
    assert!(
        first <= 2 * CHUNK_SIZE as u64,
        "first chunk written after reading {first} bytes"
    );
}

#[test]
fn wrong_key_is_rejected() {
    let clear = vec![9u8; CHUNK_SIZE + 10];
    let (key, blob) = encrypt(&clear, 4);
    let mut other = key;
    other[0] ^= 1;
    assert_eq!(
        decrypt(&other, &blob).unwrap_err(),
        CryptoError::DecryptionFailed
    );
}

#[test]
fn truncation_is_rejected() {
    let clear: Vec<u8> = (0..3 * CHUNK_SIZE + 100).map(|i| i as u8).collect();
    let (key, blob) = encrypt(&clear, 5);
    assert_eq!(decrypt(&key, &blob).unwrap(), clear);
    // Dropping whole trailing chunks: the new last chunk is not flagged last.
    for chunks in [1, 2, 3] {
        let cut = &blob[..HEAD + chunks * CT_CHUNK];
        assert_eq!(
            decrypt(&key, cut).unwrap_err(),
            CryptoError::DecryptionFailed,
            "{chunks} chunks"
        );
    }
    // Cut inside a chunk, right after the header, inside the header.
    for cut in [blob.len() - 1, blob.len() - 17, HEAD + 5, HEAD] {
        assert_eq!(
            decrypt(&key, &blob[..cut]).unwrap_err(),
            CryptoError::DecryptionFailed,
            "cut at {cut}"
        );
    }
    for cut in [0, 7, HEAD - 1] {
        assert!(matches!(
            decrypt(&key, &blob[..cut]),
            Err(CryptoError::Malformed(_))
        ));
    }
    // A file of exactly one full chunk, cut to zero chunks.
    let (key1, blob1) = encrypt(&vec![1u8; CHUNK_SIZE], 6);
    assert!(decrypt(&key1, &blob1[..HEAD]).is_err());
}

#[test]
fn reordering_duplication_and_extension_are_rejected() {
    let clear: Vec<u8> = (0..3 * CHUNK_SIZE + 100).map(|i| (i / 7) as u8).collect();
    let (key, blob) = encrypt(&clear, 7);
    let chunk = |i: usize| &blob[HEAD + i * CT_CHUNK..(HEAD + (i + 1) * CT_CHUNK).min(blob.len())];

    let mut swapped = blob[..HEAD].to_vec();
    for i in [1, 0, 2, 3] {
        swapped.extend_from_slice(chunk(i));
    }
    let mut duplicated = blob[..HEAD].to_vec();
    for i in [0, 0, 1, 2, 3] {
        duplicated.extend_from_slice(chunk(i));
    }
    let mut extended = blob.clone();
    extended.extend_from_slice(chunk(3));
    let mut garbage = blob.clone();
    garbage.push(0);
    // Another file's chunk under the same key would need the same nonce
    // prefix; a different prefix alone must break everything.
    let mut other_prefix = blob.clone();
    other_prefix[8] ^= 0x80;

    for (name, bad) in [
        ("swapped", swapped),
        ("duplicated", duplicated),
        ("extended", extended),
        ("garbage", garbage),
        ("prefix", other_prefix),
    ] {
        assert_eq!(
            decrypt(&key, &bad).unwrap_err(),
            CryptoError::DecryptionFailed,
            "{name}"
        );
    }
}

#[test]
fn bad_magic_is_malformed() {
    let (key, mut blob) = encrypt(b"ordonnance", 8);
    blob[0] ^= 1;
    assert!(matches!(
        decrypt(&key, &blob),
        Err(CryptoError::Malformed(_))
    ));
}

#[test]
fn attachment_secret_checks_size_and_hash() {
    let clear = b"compte rendu de consultation".to_vec();
    let mut blob = Vec::new();
    let (key, size, sha256) = encrypt_attachment(&mut rng(9), clear.as_slice(), &mut blob).unwrap();
    let secret = AttachmentSecret {
        id: "att_1".into(),
        name: "cr.txt".into(),
        mime_type: "text/plain".into(),
        size,
        sha256,
        key: {
            use base64::Engine as _;
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(*key)
        },
        media: None,
    };
    let mut out = Vec::new();
    assert_eq!(
        secret.decrypt_verified(blob.as_slice(), &mut out).unwrap(),
        size
    );
    assert_eq!(out, clear);

    let mut lying = secret.clone();
    lying.sha256 = "00".repeat(32);
    assert_eq!(
        lying
            .decrypt_verified(blob.as_slice(), io::sink())
            .unwrap_err(),
        CryptoError::DecryptionFailed
    );
    let mut lying = secret.clone();
    lying.size += 1;
    assert_eq!(
        lying
            .decrypt_verified(blob.as_slice(), io::sink())
            .unwrap_err(),
        CryptoError::DecryptionFailed
    );
}

#[test]
fn io_errors_are_reported() {
    struct Failing;
    impl Read for Failing {
        fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
            Err(io::Error::other("disk unplugged"))
        }
    }
    let err = encrypt_attachment(&mut rng(10), Failing, io::sink()).unwrap_err();
    assert_eq!(err.code(), "E2E_IO");
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn any_single_bit_flip_is_rejected(
        len in prop_oneof![0usize..200, (CHUNK_SIZE - 2)..(CHUNK_SIZE + 300)],
        pos in any::<usize>(),
        bit in 0u8..8,
        seed in any::<u64>(),
    ) {
        let clear: Vec<u8> = (0..len).map(|i| (i * 31) as u8).collect();
        let (key, mut blob) = encrypt(&clear, seed);
        let i = pos % blob.len();
        blob[i] ^= 1 << bit;
        prop_assert!(decrypt(&key, &blob).is_err(), "flip at {} of {}", i, blob.len());
    }

    #[test]
    fn round_trip_any_size(len in 0usize..(3 * CHUNK_SIZE), seed in any::<u64>()) {
        let clear: Vec<u8> = (0..len).map(|i| (i ^ (i >> 8)) as u8).collect();
        let (key, blob) = encrypt(&clear, seed);
        prop_assert_eq!(blob.len() as u64, encrypted_size(len as u64));
        prop_assert_eq!(decrypt(&key, &blob).unwrap(), clear);
    }
}
