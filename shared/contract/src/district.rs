//! The districts (Landkreise and kreisfreie Städte) of the alliances' regions, as publishers write
//! them: the official name in any case, with or without umlauts and prefixes ("Landkreis
//! Lüneburg", "LUENEBURG", "lüneburg"), or the official district key (Kreisschlüssel `03355`, or
//! the eight-digit municipality key of the district `03355000`), all normalised to one id
//! (`lueneburg`), the id the alliances list.
//!
//! The keys are those of the Statistische Ämter des Bundes und der Länder for Lower Saxony (`03`).

/// One district.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct District {
    /// The id the alliances and the read models use, e.g. `luechow_dannenberg`.
    pub id: &'static str,
    /// The official name, e.g. `Lüchow-Dannenberg`.
    pub name: &'static str,
    /// The official district key (Kreisschlüssel), e.g. `03354`.
    pub key: &'static str,
}

/// Every district of the built-in alliances' regions (NON, then SON).
pub const DISTRICTS: [District; 14] = [
    District {
        id: "harburg",
        name: "Harburg",
        key: "03353",
    },
    District {
        id: "lueneburg",
        name: "Lüneburg",
        key: "03355",
    },
    District {
        id: "uelzen",
        name: "Uelzen",
        key: "03360",
    },
    District {
        id: "luechow_dannenberg",
        name: "Lüchow-Dannenberg",
        key: "03354",
    },
    District {
        id: "celle",
        name: "Celle",
        key: "03351",
    },
    District {
        id: "heidekreis",
        name: "Heidekreis",
        key: "03358",
    },
    District {
        id: "braunschweig",
        name: "Braunschweig",
        key: "03101",
    },
    District {
        id: "wolfsburg",
        name: "Wolfsburg",
        key: "03103",
    },
    District {
        id: "salzgitter",
        name: "Salzgitter",
        key: "03102",
    },
    District {
        id: "gifhorn",
        name: "Gifhorn",
        key: "03151",
    },
    District {
        id: "goslar",
        name: "Goslar",
        key: "03153",
    },
    District {
        id: "helmstedt",
        name: "Helmstedt",
        key: "03154",
    },
    District {
        id: "peine",
        name: "Peine",
        key: "03157",
    },
    District {
        id: "wolfenbuettel",
        name: "Wolfenbüttel",
        key: "03158",
    },
];

/// Prefixes and suffixes publishers add to a district's name, removed before comparing.
const AFFIXES: [&str; 6] = [
    "landkreis_",
    "lk_",
    "kreis_",
    "kreisfreie_stadt_",
    "stadt_",
    "region_",
];

/// The folded form of a name: lower case, umlauts and ß written out, every run of spaces,
/// hyphens, dots and commas one `_`, without the affixes of [`AFFIXES`] and a trailing `_stadt`.
fn fold(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for c in input.trim().chars().flat_map(char::to_lowercase) {
        match c {
            'ä' => out.push_str("ae"),
            'ö' => out.push_str("oe"),
            'ü' => out.push_str("ue"),
            'ß' => out.push_str("ss"),
            ' ' | '-' | '.' | ',' | '_' | '\u{a0}' => {
                if !out.ends_with('_') && !out.is_empty() {
                    out.push('_');
                }
            }
            other => out.push(other),
        }
    }
    let mut folded = out.trim_end_matches('_').to_owned();
    for affix in AFFIXES {
        if let Some(rest) = folded.strip_prefix(affix) {
            folded = rest.to_owned();
        }
    }
    if let Some(rest) = folded.strip_suffix("_stadt") {
        folded = rest.to_owned();
    }
    folded
}

/// The district a publisher's spelling names: its id, its official name in any case with or
/// without umlauts and prefixes, its Kreisschlüssel (`03355`) or the municipality key of the
/// district (`03355000`). `None` when it names none.
pub fn normalise(input: &str) -> Option<&'static District> {
    let trimmed = input.trim();
    if !trimmed.is_empty() && trimmed.chars().all(|c| c.is_ascii_digit()) {
        let key = match trimmed.len() {
            5 => trimmed,
            8 if trimmed.ends_with("000") => &trimmed[..5],
            _ => return None,
        };
        return DISTRICTS.iter().find(|d| d.key == key);
    }
    let folded = fold(trimmed);
    DISTRICTS
        .iter()
        .find(|d| d.id == folded || fold(d.name) == folded)
}

/// The id a spelling normalises to, or the spelling itself when it names no district (screening
/// then says which districts are valid).
pub fn normalised_id(input: &str) -> String {
    normalise(input).map_or_else(|| input.to_owned(), |d| d.id.to_owned())
}

/// `Harburg (03353), Lüneburg (03355), …` for the districts with the given ids, for messages.
pub fn describe(ids: &[String]) -> String {
    ids.iter()
        .map(|id| match DISTRICTS.iter().find(|d| d.id == id) {
            Some(d) => format!("{} ({})", d.name, d.key),
            None => id.clone(),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_district_is_found_by_its_name_in_any_spelling_and_by_its_keys() {
        for spelling in [
            "Lüneburg",
            "LÜNEBURG",
            "lueneburg",
            "Landkreis Lüneburg",
            "LK Lüneburg",
            "  Lüneburg ",
            "03355",
            "03355000",
        ] {
            assert_eq!(
                normalise(spelling).map(|d| d.id),
                Some("lueneburg"),
                "{spelling}"
            );
        }
        for spelling in [
            "Lüchow-Dannenberg",
            "Luechow Dannenberg",
            "luechow_dannenberg",
            "03354",
        ] {
            assert_eq!(
                normalise(spelling).map(|d| d.id),
                Some("luechow_dannenberg"),
                "{spelling}"
            );
        }
        assert_eq!(
            normalise("Braunschweig, Stadt").map(|d| d.id),
            Some("braunschweig")
        );
        assert_eq!(
            normalise("Stadt Wolfsburg").map(|d| d.id),
            Some("wolfsburg")
        );
        assert_eq!(
            normalise("WOLFENBÜTTEL").map(|d| d.id),
            Some("wolfenbuettel")
        );
    }

    #[test]
    fn what_names_no_district_is_none_and_kept_as_written() {
        for spelling in [
            "Atlantis",
            "03999",
            "3355",
            "033550001",
            "",
            "Lüne",
            "Hannover",
        ] {
            assert_eq!(normalise(spelling), None, "{spelling}");
        }
        assert_eq!(normalised_id("Atlantis"), "Atlantis");
        assert_eq!(
            describe(&["harburg".into(), "celle".into()]),
            "Harburg (03353), Celle (03351)"
        );
    }

    #[test]
    fn the_alliances_list_exactly_these_districts() {
        let mut listed: Vec<String> = crate::reference::builtin_alliances()
            .into_iter()
            .flat_map(|a| a.districts)
            .collect();
        listed.sort();
        let mut ids: Vec<String> = DISTRICTS.iter().map(|d| d.id.to_owned()).collect();
        ids.sort();
        assert_eq!(listed, ids);
    }

    proptest! {
        /// Every district's name, upper or lower case, with a prefix or not, is that district.
        #[test]
        fn every_spelling_of_a_name_is_its_district(
            index in 0usize..14,
            upper in any::<bool>(),
            prefix in prop::sample::select(vec!["", "Landkreis ", "LK ", "Stadt "]),
        ) {
            let district = DISTRICTS[index];
            let name = if upper { district.name.to_uppercase() } else { district.name.to_lowercase() };
            let spelling = format!("{prefix}{name}");
            prop_assert_eq!(normalise(&spelling), Some(&DISTRICTS[index]));
        }
    }
}
