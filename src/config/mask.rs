//! Masking of telephone numbers, so that error messages and logs never carry
//! one in clear.

/// Masks a telephone number for display: the first four and the last two
/// characters stay, the rest becomes `…` (`+33612345678` → `+336…78`).
/// Anything too short to hide a meaningful part is masked entirely.
pub fn mask_number(number: &str) -> String {
    let chars: Vec<char> = number.chars().collect();
    if chars.len() <= 6 {
        return "…".to_string();
    }
    let head: String = chars.iter().take(4).collect();
    let tail: String = chars.iter().skip(chars.len() - 2).collect();
    format!("{head}…{tail}")
}

/// Masks every run of six or more digits (with an optional leading `+`) in a
/// free text, such as an error message that quotes a value from a file.
/// Ports, line numbers and dates have fewer digits in a row and stay readable.
pub fn mask_numbers_in_text(text: &str) -> String {
    const MIN_RUN: usize = 6;
    let mut out = String::with_capacity(text.len());
    let mut run = String::new();
    let flush = |run: &mut String, out: &mut String| {
        let digits = run.chars().filter(char::is_ascii_digit).count();
        if digits >= MIN_RUN {
            out.push_str(&mask_number(run));
        } else {
            out.push_str(run);
        }
        run.clear();
    };
    for c in text.chars() {
        if c.is_ascii_digit() || (c == '+' && run.is_empty()) {
            run.push(c);
        } else {
            flush(&mut run, &mut out);
            out.push(c);
        }
    }
    flush(&mut run, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_first_four_and_last_two() {
        assert_eq!(mask_number("+33612345678"), "+336…78");
        assert_eq!(mask_number("0612345678"), "0612…78");
    }

    #[test]
    fn short_values_are_fully_masked() {
        assert_eq!(mask_number("+3312"), "…");
        assert_eq!(mask_number(""), "…");
    }

    #[test]
    fn non_ascii_input_does_not_panic() {
        assert_eq!(mask_number("éééééééé"), "éééé…éé");
    }

    #[test]
    fn masks_long_digit_runs_in_text() {
        let text = "number +33612345678 at line 12, column 5, port 5060, \"33612345678\"";
        let masked = mask_numbers_in_text(text);
        assert_eq!(
            masked,
            "number +336…78 at line 12, column 5, port 5060, \"3361…78\""
        );
    }

    #[test]
    fn lone_plus_signs_stay() {
        assert_eq!(mask_numbers_in_text("a + b"), "a + b");
    }
}
