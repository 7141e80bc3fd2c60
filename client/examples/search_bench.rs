//! Search latency over a large encrypted cache (BENCHMARKS.md "Desktop app").
//!
//! Fills a real SQLCipher cache (the client's own `Cache`, same schema, same
//! FTS5 index, same key handling) with SEARCH_MESSAGES (100,000) messages of
//! plausible French doctor–patient text spread over 40 records, then runs a
//! fixed set of queries, accented and not, common and rare, over all records
//! and scoped to one, SEARCH_ROUNDS (20) times each, through `Cache::search`
//! with the limit the app uses (50). Prints p50/p95/p99/max per group and per
//! query. Not a test: nothing is asserted.
//!
//!   cargo run --release -p dmp-client --example search_bench
#![allow(clippy::unwrap_used, clippy::expect_used)]

use dmp_client::cache::Cache;
use dmp_protocol::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::json;
use std::time::{Duration, Instant};

const CONTEXTS: u64 = 40;

const DRUGS: &[&str] = &[
    "amoxicilline",
    "paracétamol",
    "ibuprofène",
    "lévothyroxine",
    "metformine",
    "oméprazole",
    "salbutamol",
    "amlodipine",
    "atorvastatine",
    "prednisolone",
    "doxycycline",
    "tramadol",
    "cétirizine",
    "furosémide",
    "bisoprolol",
];
const GREETINGS: &[&str] = &[
    "Bonjour docteur,",
    "Bonjour Madame,",
    "Bonjour Monsieur,",
    "Bonsoir,",
    "Merci pour votre réponse.",
    "Docteur,",
    "",
    "",
];
const PATIENT: &[&str] = &[
    "j'ai toujours de la fièvre depuis {n} jours, autour de 38,{n} °C.",
    "la douleur au genou droit a augmenté après la séance de kinésithérapie.",
    "je tousse surtout la nuit et j'ai du mal à respirer en montant l'escalier.",
    "j'ai oublié de prendre mon comprimé de {drug} ce matin, dois-je le prendre maintenant ?",
    "est-ce que je peux prendre de l'{drug} en même temps que mon traitement habituel ?",
    "les résultats de la prise de sang sont arrivés, la ferritine est à {n}0.",
    "j'ai des nausées après chaque repas depuis que je prends le {drug}.",
    "ma glycémie à jeun était à 1,{n} g/L ce matin.",
    "l'échographie abdominale est prévue le {n} du mois prochain.",
    "je n'arrive pas à dormir à cause de la douleur, même avec le {drug}.",
    "une éruption cutanée est apparue sur les bras hier soir.",
    "la pharmacie n'a plus de {drug}, existe-t-il un générique ?",
    "mon fils a de la fièvre et des maux de tête, faut-il consulter ?",
    "j'ai bien reçu l'ordonnance, merci beaucoup.",
    "puis-je décaler le rendez-vous de contrôle de quelques jours ?",
    "la tension était à 14/{n} ce matin au réveil.",
];
const DOCTOR: &[&str] = &[
    "vous pouvez poursuivre le {drug} sans changement jusqu'à la fin du traitement.",
    "prenez le {drug} au début du repas pour limiter les troubles digestifs.",
    "la fièvre devrait baisser d'ici quarante-huit heures ; sinon, rappelez-moi.",
    "votre bilan sanguin est rassurant, la CRP a nettement diminué.",
    "je préfère vous revoir en consultation la semaine prochaine.",
    "ces effets indésirables sont fréquents et sans gravité.",
    "pensez à bien vous hydrater et à vous reposer.",
    "l'ordonnance est renouvelable une fois à la pharmacie.",
    "une prise de sang de contrôle à jeun est prévue dans {n} semaines.",
    "l'IRM confirme une lésion méniscale, nous en parlerons en consultation.",
    "le dosage de la TSH est normal, on garde la même dose de {drug}.",
    "en cas de douleur thoracique ou de gêne respiratoire, appelez le 15.",
    "l'hémoglobine glyquée est à {n},5 %, c'est un peu élevé.",
    "la radiographie thoracique ne montre pas de pneumopathie.",
    "vous pouvez prendre du {drug} en plus, sans dépasser 3 g par jour.",
    "n'hésitez pas à m'écrire si les symptômes persistent.",
];
const CLOSINGS: &[&str] = &[
    "",
    "",
    " Bonne journée.",
    " Cordialement.",
    " Merci d'avance.",
    " Bien à vous.",
];

/// (label, query, accented) — pairs written with and without accents.
const QUERIES: &[(&str, bool)] = &[
    ("fièvre", true),
    ("fievre", false),
    ("échographie", true),
    ("echographie", false),
    ("résultats prise de sang", true),
    ("resultats prise de sang", false),
    ("glycémie à jeun", true),
    ("glycemie a jeun", false),
    ("paracétamol", true),
    ("paracetamol", false),
    ("lévothyroxine TSH", true),
    ("levothyroxine tsh", false),
    ("éruption cutanée", true),
    ("eruption cutanee", false),
    ("lésion méniscale", true),
    ("lesion meniscale", false),
    ("hémoglobine", true),
    ("hemoglobine", false),
    ("douleur thoracique", false),
    ("amox", false),
    ("bonjour", false),
    ("rendez-vous contrôle", true),
    ("ordonnance renouvelable", false),
    ("pneumopathie", false),
    ("kinésithérapie genou", true),
    ("introuvablemot", false),
];

fn pick<'a>(rng: &mut StdRng, list: &[&'a str]) -> &'a str {
    list[rng.gen_range(0..list.len())]
}

fn sentence(rng: &mut StdRng, from_patient: bool) -> String {
    let s = pick(rng, if from_patient { PATIENT } else { DOCTOR });
    let n = rng.gen_range(2..9).to_string();
    s.replace("{n}", &n).replace("{drug}", pick(rng, DRUGS))
}

fn text(rng: &mut StdRng, from_patient: bool) -> String {
    let mut out = pick(rng, GREETINGS).to_owned();
    for _ in 0..rng.gen_range(1..=3) {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(&sentence(rng, from_patient));
    }
    out.push_str(pick(rng, CLOSINGS));
    out
}

fn message(rng: &mut StdRng, i: u64) -> Message {
    let ctx = i % CONTEXTS;
    let from_patient = rng.gen_bool(0.5);
    let patient = json!({"id": format!("patient_{ctx}"), "type": "patient", "name": format!("Patient {ctx}")});
    let doctor = json!({"id": "medecin_456", "type": "medecin", "name": "Dr. Sophie Martin"});
    let (sender, recipient) = if from_patient {
        (patient, doctor)
    } else {
        (doctor, patient)
    };
    let kind = if ctx.is_multiple_of(2) {
        "ordonnance"
    } else {
        "examen"
    };
    let seq = i / CONTEXTS + 1;
    // Two years of history, oldest first.
    let ts = chrono::DateTime::from_timestamp(1_700_000_000 + (i as i64) * 630, 0).unwrap();
    serde_json::from_value(json!({
        "id": format!("msg_{i:08}"),
        "content": text(rng, from_patient),
        "type": "text",
        "sender": sender,
        "recipient": recipient,
        "context": {"type": kind, "id": format!("ctx_{ctx:03}")},
        "timestamp": ts,
        "status": "read",
        "attachments": [],
        "metadata": {"isUrgent": false, "requiresResponse": false},
        "clientMessageId": format!("c_{i:08}"),
        "sessionId": format!("ses_{ctx:03}"),
        "seq": seq,
        "encrypted": true,
    }))
    .unwrap()
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn summary(label: &str, mut v: Vec<Duration>) {
    v.sort();
    println!(
        "| {label} | {} | {:.2} | {:.2} | {:.2} | {:.2} |",
        v.len(),
        pct(&v, 0.5),
        pct(&v, 0.95),
        pct(&v, 0.99),
        v.last().unwrap().as_secs_f64() * 1000.0
    );
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let n = env_u64("SEARCH_MESSAGES", 100_000);
    let rounds = env_u64("SEARCH_ROUNDS", 20);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache.db");
    let key = Cache::new_key();
    let mut rng = StdRng::seed_from_u64(11);

    let cache = Cache::open(&path, &key).unwrap();
    let fill = Instant::now();
    let mut batch = Vec::with_capacity(1000);
    let mut chars = 0usize;
    for i in 0..n {
        let m = message(&mut rng, i);
        chars += m.content.chars().count();
        batch.push(m);
        if batch.len() == 1000 {
            cache.put_messages(&batch).unwrap();
            batch.clear();
        }
    }
    cache.put_messages(&batch).unwrap();
    let fill = fill.elapsed();
    drop(cache);
    let size: u64 = std::fs::read_dir(dir.path())
        .unwrap()
        .flatten()
        .map(|e| e.metadata().map(|m| m.len()).unwrap_or(0))
        .sum();
    println!(
        "filled  {n} messages ({:.0} characters on average) over {CONTEXTS} records in {:.1} s; cache files {:.1} MB (SQLCipher, FTS5 unicode61 remove_diacritics 2)",
        chars as f64 / n as f64,
        fill.as_secs_f64(),
        size as f64 / 1e6
    );

    // Reopen as the app does at sign-in; the first query pays for the first pages read.
    let open = Instant::now();
    let cache = Cache::open(&path, &key).unwrap();
    let open = open.elapsed();
    let first = Instant::now();
    let hits = cache.search("fièvre", None, 50).unwrap().len();
    println!(
        "open    {:.1} ms; first query after opening {:.2} ms ({hits} hits)",
        open.as_secs_f64() * 1000.0,
        first.elapsed().as_secs_f64() * 1000.0
    );

    let scope_id = ContextId::new("ctx_007");
    let mut all = vec![];
    let mut scoped = vec![];
    let mut accented = vec![];
    let mut plain = vec![];
    let mut per_query = vec![];
    for (q, is_accented) in QUERIES {
        let total = cache.search(q, None, 100_000).unwrap().len();
        let mut times = vec![];
        for _ in 0..rounds {
            let t = Instant::now();
            let hits = cache.search(q, None, 50).unwrap();
            let e = t.elapsed();
            std::hint::black_box(hits);
            times.push(e);
            all.push(e);
            if *is_accented {
                accented.push(e);
            } else {
                plain.push(e);
            }
            let t = Instant::now();
            let hits = cache
                .search(q, Some((ContextType::Examen, &scope_id)), 50)
                .unwrap();
            std::hint::black_box(hits);
            scoped.push(t.elapsed());
        }
        times.sort();
        per_query.push((q, total, pct(&times, 0.5), pct(&times, 0.95)));
    }
    println!();
    println!("| queries (limit 50) | samples | p50 ms | p95 ms | p99 ms | max ms |");
    println!("|---|---|---|---|---|---|");
    summary("all records", all);
    summary("all records, accented queries", accented);
    summary("all records, queries without accents", plain);
    summary("one record (scoped)", scoped);
    println!();
    println!("| query | matching messages | p50 ms | p95 ms |");
    println!("|---|---|---|---|");
    for (q, total, p50, p95) in per_query {
        println!("| `{q}` | {total} | {p50:.2} | {p95:.2} |");
    }
}
