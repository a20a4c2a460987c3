//! What `clean` found, per split: the counts of its table, what it removed and why, and the
//! duplicates, leaks and near-identical images it reports (`clean_report.json`).
use serde::ser::{Serialize, SerializeMap, Serializer};

#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct SplitStats {
    /// SHA-256 of the original annotation file (left as it was) and of the cleaned one written.
    pub original_sha256: String,
    pub cleaned_sha256: String,
    pub images: usize,
    pub annotations: usize,
    pub no_annotation: usize,
    /// Images without any annotation kept as tumour-free (`keep_empty`).
    pub kept_empty: usize,
    pub multi_annotation: usize,
    pub missing: usize,
    pub corrupt: usize,
    /// Images decoded at another size than their annotation entry says.
    pub wrong_size: usize,
    /// Annotations with at least one dropped ring/RLE.
    pub degenerate: usize,
    /// Extra copies of byte-identical images inside the split.
    pub duplicates: usize,
    /// Images whose bytes also appear in another split.
    pub leaked: usize,
    /// Images with a near-identical (not byte-identical) image in another split.
    pub similar: usize,
    pub kept: usize,
    pub removed_ids: Vec<u64>,
    /// Each removed image (in id order) with its file and why it was removed.
    pub removed: Vec<Removed>,
    pub bbox_only: usize,
    /// Annotations with vertices clamped to the image border.
    pub clamped: usize,
    /// Annotations skipped: unknown image id or unusable entry.
    pub skipped_annotations: usize,
    /// Multi-annotation images merged into one annotation (`keep_multi`).
    pub merged: usize,
    pub duplicate_files: Vec<Vec<String>>,
    /// `(file here, split/file elsewhere)`.
    pub leaked_files: Vec<(String, String)>,
    /// `(file here, split/file of its closest image elsewhere, thumbnail correlation)`.
    pub similar_files: Vec<(String, String, f32)>,
}

#[derive(Clone, Debug, Default, PartialEq, serde::Serialize)]
pub struct Removed {
    pub id: u64,
    pub file_name: String,
    /// "missing file", "corrupt file", "file is W×H, annotations say W×H", "no annotation", "no
    /// usable annotation" or "N annotations".
    pub reason: String,
}

impl std::fmt::Display for Removed {
    fn fmt(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        write!(f, "id {} ({}: {})", self.id, self.file_name, self.reason)
    }
}

/// Per-split statistics, serialised in split order (train, valid, test).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct CleanReport {
    pub splits: Vec<(String, SplitStats)>,
}

impl Serialize for CleanReport {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.splits.len()))?;
        for (name, stats) in &self.splits {
            m.serialize_entry(name, stats)?;
        }
        m.end()
    }
}

impl CleanReport {
    /// clean_report.json: this clean's splits, and the entries of the splits it did not clean kept
    /// from `earlier` (the report there before) when `exists` (a split gone from the dataset has no
    /// report), in split order. A `--splits train` clean used to drop valid's and test's entries,
    /// and with them evaluate's independent score.
    pub fn merged_json(
        &self,
        earlier: Option<&[u8]>,
        exists: impl Fn(&str) -> bool,
    ) -> serde_json::Result<Vec<u8>> {
        let mut entries = (self.splits.iter())
            .map(|(name, stats)| Ok((name.clone(), serde_json::to_value(stats)?)))
            .collect::<serde_json::Result<Vec<_>>>()?;
        let old = earlier.and_then(|b| serde_json::from_slice::<serde_json::Value>(b).ok());
        if let Some(serde_json::Value::Object(old)) = old {
            for (name, value) in old {
                if exists(&name) && !entries.iter().any(|(n, _)| *n == name) {
                    entries.push((name, value));
                }
            }
        }
        let rank = |n: &str| crate::dataset::SPLITS.iter().position(|s| *s == n);
        entries.sort_by_key(|(n, _)| rank(n).unwrap_or(usize::MAX));
        serde_json::to_vec_pretty(&Ordered(&entries))
    }
}

/// A JSON object whose keys keep the order given (serde_json's own map sorts them).
struct Ordered<'a>(&'a [(String, serde_json::Value)]);

impl Serialize for Ordered<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (name, value) in self.0 {
            m.serialize_entry(name, value)?;
        }
        m.end()
    }
}
