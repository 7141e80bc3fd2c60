//! The built-in demo dataset: French patients, doctors, ordonnances and
//! examens, so that the product can be tried at once.

use crate::admin::{ImportContext, ImportFile, ImportUser};

/// Password of every demo patient.
pub const PATIENT_PASSWORD: &str = "patient-demo-2026";
/// Password of every demo doctor.
pub const DOCTOR_PASSWORD: &str = "medecin-demo-2026";
/// Password of the demo admin.
pub const ADMIN_PASSWORD: &str = "admin-demo-2026";

fn user(id: &str, kind: &str, name: &str, username: &str) -> ImportUser {
    let password = match kind {
        "patient" => PATIENT_PASSWORD,
        "medecin" => DOCTOR_PASSWORD,
        _ => ADMIN_PASSWORD,
    };
    ImportUser {
        id: id.into(),
        kind: kind.into(),
        name: name.into(),
        username: username.into(),
        password: Some(password.into()),
        password_hash: None,
        email: None,
    }
}

fn context(
    kind: &str,
    id: &str,
    title: &str,
    date: &str,
    patient: &str,
    doctor: &str,
    summary: &str,
) -> ImportContext {
    ImportContext {
        kind: kind.into(),
        id: id.into(),
        title: title.into(),
        date: date.into(),
        patient_id: patient.into(),
        doctor_id: doctor.into(),
        summary: summary.into(),
    }
}

/// The dataset.
pub fn dataset() -> ImportFile {
    ImportFile {
        users: vec![
            user("patient_123", "patient", "Jean Dupont", "jean.dupont"),
            user("patient_124", "patient", "Marie Lefèvre", "marie.lefevre"),
            user("patient_125", "patient", "Lucas Bernard", "lucas.bernard"),
            user("patient_126", "patient", "Camille Petit", "camille.petit"),
            user("medecin_456", "medecin", "Dr. Sophie Martin", "dr.martin"),
            user("medecin_457", "medecin", "Dr. Pierre Moreau", "dr.moreau"),
            user("medecin_458", "medecin", "Dr. Amina Benali", "dr.benali"),
            user("admin_001", "admin", "Administrateur DMP", "admin"),
        ],
        contexts: vec![
            context(
                "ordonnance",
                "ord_789",
                "Ordonnance du 12/01/2026",
                "2026-01-12",
                "patient_123",
                "medecin_456",
                "Amoxicilline 1 g, 3 fois par jour pendant 7 jours ; paracétamol 1 g si fièvre.",
            ),
            context(
                "examen",
                "exa_101",
                "Bilan sanguin du 20/01/2026",
                "2026-01-20",
                "patient_123",
                "medecin_457",
                "NFS, ferritine, CRP, glycémie à jeun.",
            ),
            context(
                "ordonnance",
                "ord_790",
                "Ordonnance du 03/02/2026",
                "2026-02-03",
                "patient_124",
                "medecin_456",
                "Lévothyroxine 75 µg, 1 comprimé le matin à jeun ; contrôle TSH dans 6 semaines.",
            ),
            context(
                "examen",
                "exa_102",
                "IRM du genou droit du 15/02/2026",
                "2026-02-15",
                "patient_124",
                "medecin_458",
                "IRM sans injection, suspicion de lésion méniscale.",
            ),
            context(
                "ordonnance",
                "ord_791",
                "Ordonnance du 01/03/2026",
                "2026-03-01",
                "patient_125",
                "medecin_457",
                "Salbutamol 100 µg, 2 bouffées en cas de gêne respiratoire.",
            ),
            context(
                "examen",
                "exa_103",
                "Radiographie thoracique du 10/03/2026",
                "2026-03-10",
                "patient_125",
                "medecin_456",
                "Radiographie de face et de profil, toux persistante.",
            ),
            context(
                "examen",
                "exa_104",
                "Échographie abdominale du 22/03/2026",
                "2026-03-22",
                "patient_126",
                "medecin_458",
                "Échographie hépatique et vésiculaire.",
            ),
            context(
                "ordonnance",
                "ord_792",
                "Ordonnance du 25/03/2026",
                "2026-03-25",
                "patient_126",
                "medecin_458",
                "Oméprazole 20 mg, 1 gélule le soir pendant 4 semaines.",
            ),
        ],
    }
}
