//! Identifiers in the shapes FPS used (§4.1, §6.1, §6.2).

use rand::Rng;

const UPPER_ALNUM: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

fn random_upper(len: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..len)
        .map(|_| char::from(UPPER_ALNUM[rng.gen_range(0..UPPER_ALNUM.len())]))
        .collect()
}

/// 35 upper-case alphanumerics starting with `1` (e.g. `14GK6BGKA7U6OU6SUTNLBI5SBBV9PGDJ6UL`).
pub fn transaction_id() -> String {
    format!("1{}", random_upper(34))
}

/// 64 upper-case alphanumerics, like the CBUI's `tokenID`.
pub fn token_id() -> String {
    random_upper(64)
}

/// A plain UUID (error bodies); success bodies append `:0`.
pub fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// An unguessable id for a pending CBUI authorisation.
pub fn session_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

/// Whether a value could be a transaction id at all (1–35 ASCII letters and digits).
pub fn is_transaction_id_shaped(value: &str) -> bool {
    !value.is_empty() && value.len() <= 35 && value.bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Whether a value could be a token id at all (1–64 ASCII letters and digits).
pub fn is_token_id_shaped(value: &str) -> bool {
    !value.is_empty() && value.len() <= 64 && value.bytes().all(|b| b.is_ascii_alphanumeric())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes() {
        let t = transaction_id();
        assert_eq!(t.len(), 35);
        assert!(t.starts_with('1'));
        assert!(t
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
        let k = token_id();
        assert_eq!(k.len(), 64);
        assert!(k
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
        assert!(request_id().len() == 36);
        assert!(is_transaction_id_shaped(&t));
        assert!(!is_transaction_id_shaped("FAKE-1"));
    }
}
