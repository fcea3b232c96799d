//! The two books (seed ⑧ 5.1.2): the residence manual and the residence quality warranty
//! certificate, which go over with the keys under the owner's signature (5.1.8).

/// The books as stored and named, in the order a missing one is named.
pub const BOOK_KINDS: [&str; 2] = ["residence_manual", "warranty_certificate"];

/// The first book not on record for a unit, if any.
pub fn first_missing(manual: bool, certificate: bool) -> Option<&'static str> {
    if !manual {
        Some(BOOK_KINDS[0])
    } else if !certificate {
        Some(BOOK_KINDS[1])
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_missing_book_is_named() {
        assert_eq!(first_missing(false, false), Some("residence_manual"));
        assert_eq!(first_missing(true, false), Some("warranty_certificate"));
        assert_eq!(first_missing(true, true), None);
    }
}
