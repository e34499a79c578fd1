//! E.164 telephone numbers: validation and normalisation of SIP user parts.

use super::mask::mask_number;

const MIN_DIGITS: usize = 8;
const MAX_DIGITS: usize = 15;

/// Why a value is not an E.164 number. The text never quotes the number.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NumberError {
    #[error("{masked} is not an E.164 number: it must start with `+`")]
    MissingPlus { masked: String },
    #[error("{masked} is not an E.164 number: only digits may follow `+`")]
    NotDigits { masked: String },
    #[error("{masked} is not an E.164 number: it has {digits} digits, expected 8 to 15")]
    Length { masked: String, digits: usize },
}

/// Checks that `value` is `+` followed by 8 to 15 digits.
pub fn parse_e164(value: &str) -> Result<String, NumberError> {
    let masked = mask_number(value);
    let Some(digits) = value.strip_prefix('+') else {
        return Err(NumberError::MissingPlus { masked });
    };
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(NumberError::NotDigits { masked });
    }
    if !(MIN_DIGITS..=MAX_DIGITS).contains(&digits.len()) {
        return Err(NumberError::Length {
            masked,
            digits: digits.len(),
        });
    }
    Ok(value.to_string())
}

/// Normalises the user part of a SIP URI to E.164 when it can be one:
/// `+` and 8–15 digits as is, or 8–15 plain digits taken as the same number
/// without its `+` (some carriers drop it). Anything else, including national
/// formats and visual separators, is not a number for routing purposes.
pub fn normalize_number(user_part: &str) -> Option<String> {
    let digits = user_part.strip_prefix('+').unwrap_or(user_part);
    let plausible = (MIN_DIGITS..=MAX_DIGITS).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit());
    plausible.then(|| format!("+{digits}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_valid_numbers() {
        assert_eq!(parse_e164("+33123456789").as_deref(), Ok("+33123456789"));
        assert!(parse_e164("+12345678").is_ok());
        assert!(parse_e164("+123456789012345").is_ok());
    }

    #[test]
    fn rejects_bad_numbers_without_quoting_them() {
        for bad in [
            "33123456789",
            "+33 1 23 45 67 89",
            "+1234567",
            "+1234567890123456",
            "+",
            "",
        ] {
            let error = parse_e164(bad).expect_err(bad);
            let text = error.to_string();
            assert!(!text.contains("23456"), "{text}");
        }
    }

    #[test]
    fn normalizes_user_parts() {
        assert_eq!(
            normalize_number("+33123456789").as_deref(),
            Some("+33123456789")
        );
        assert_eq!(
            normalize_number("33123456789").as_deref(),
            Some("+33123456789")
        );
        assert_eq!(
            normalize_number("0123456789").as_deref(),
            Some("+0123456789")
        );
        assert_eq!(normalize_number("alice"), None);
        assert_eq!(normalize_number("+33-1-23"), None);
        assert_eq!(normalize_number("1234"), None);
        assert_eq!(normalize_number("++33123456789"), None);
        assert_eq!(normalize_number(""), None);
    }
}
