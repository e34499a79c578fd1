//! The one mask for telephone numbers, so that error messages and logs never
//! carry one in clear.

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
    use proptest::prelude::*;

    #[test]
    fn keeps_first_four_and_last_two() {
        for (number, masked) in [
            ("+33612345678", "+336…78"),
            ("0612345678", "0612…78"),
            ("+4930123456", "+493…56"),
            ("+123456789012345", "+123…45"),
            ("1234567", "1234…67"),
        ] {
            assert_eq!(mask_number(number), masked, "{number}");
        }
    }

    #[test]
    fn short_values_are_fully_masked() {
        for short in ["", "+", "+3312", "123456"] {
            assert_eq!(mask_number(short), "…", "{short}");
        }
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

    proptest! {
        #[test]
        fn a_masked_number_never_holds_its_middle(digits in "[0-9]{7,15}") {
            let number = format!("+{digits}");
            let masked = mask_number(&number);
            prop_assert!(!masked.contains(&digits));
            prop_assert_eq!(masked.chars().count(), 7);
            let in_text = mask_numbers_in_text(&format!("call from {number} refused"));
            prop_assert!(!in_text.contains(&digits));
        }
    }
}
