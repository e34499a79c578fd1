//! ISO 3166-1 alpha-2 country codes and the European Economic Area.

/// Officially assigned ISO 3166-1 alpha-2 codes.
const ISO_3166_ALPHA2: &str = "\
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ \
BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ BR BS BT BV BW BY BZ \
CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ \
DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR \
GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS GT GU GW GY \
HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP \
KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY \
MA MC MD ME MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ \
NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY \
QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ \
TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ \
VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW";

/// The 27 EU member states plus Iceland, Liechtenstein and Norway: data may
/// go there without a transfer mechanism (GDPR chapter V does not apply).
pub const EEA_COUNTRIES: [&str; 30] = [
    "AT", "BE", "BG", "CY", "CZ", "DE", "DK", "EE", "ES", "FI", "FR", "GR", "HR", "HU", "IE", "IS",
    "IT", "LI", "LT", "LU", "LV", "MT", "NL", "NO", "PL", "PT", "RO", "SE", "SI", "SK",
];

/// An ISO 3166-1 alpha-2 code, upper case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct CountryCode([u8; 2]);

impl CountryCode {
    /// Accepts an assigned code in upper case (`FR`, not `fr` nor `FRA`).
    pub fn parse(text: &str) -> Option<Self> {
        let bytes: [u8; 2] = text.as_bytes().try_into().ok()?;
        let assigned = bytes.iter().all(u8::is_ascii_uppercase)
            && ISO_3166_ALPHA2.split(' ').any(|code| code == text);
        assigned.then_some(Self(bytes))
    }

    pub fn as_str(&self) -> &str {
        // Only built by `parse` from two ASCII upper-case letters.
        std::str::from_utf8(&self.0).unwrap_or("??")
    }

    pub fn is_eea(&self) -> bool {
        EEA_COUNTRIES.contains(&self.as_str())
    }
}

impl std::fmt::Display for CountryCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_list_has_every_assigned_code_once() {
        let codes: Vec<&str> = ISO_3166_ALPHA2.split(' ').collect();
        assert_eq!(codes.len(), 249);
        let mut sorted = codes.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted, codes, "sorted and without duplicates");
    }

    #[test]
    fn eea_members_are_assigned_codes() {
        for code in EEA_COUNTRIES {
            assert!(
                CountryCode::parse(code).is_some_and(|c| c.is_eea()),
                "{code}"
            );
        }
    }

    #[test]
    fn parses_codes_strictly() {
        assert_eq!(CountryCode::parse("FR").map(|c| c.is_eea()), Some(true));
        assert_eq!(CountryCode::parse("US").map(|c| c.is_eea()), Some(false));
        assert_eq!(CountryCode::parse("CH").map(|c| c.is_eea()), Some(false));
        for bad in ["fr", "FRA", "XX", "", "F", "ÉÉ", "EU", "EL", "UK"] {
            assert_eq!(CountryCode::parse(bad), None, "{bad}");
        }
    }
}
