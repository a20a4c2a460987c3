//! What a volume's values look like, to tell a label volume from an image: labels are a handful of
//! whole numbers (BraTS: 0, 1, 2, 4), an MRI image hundreds of grey values or fractions of one.
use std::collections::BTreeSet;

/// More distinct values than a tumour's label volume holds (a few classes; a whole-brain
/// parcellation some dozens): an image's greys.
const MANY: usize = 64;
/// At most this many distinct whole numbers: a label volume's classes, not an MRI's greys.
const FEW: usize = 16;

/// A volume's values, rounded, and how many of its nonzero voxels are not whole numbers.
#[derive(Debug, PartialEq)]
pub struct Values {
    /// The distinct values, each rounded to a whole number.
    pub distinct: BTreeSet<i64>,
    fractional: usize,
    nonzero: usize,
}

impl Values {
    pub fn of(values: &[f32]) -> Values {
        let nonzero = values.iter().filter(|&&x| x != 0.0).count();
        Values {
            distinct: values.iter().map(|x| x.round() as i64).collect(),
            fractional: values.iter().filter(|x| x.fract() != 0.0).count(),
            nonzero,
        }
    }

    /// An image's many greys (or fractions of one, for an image scaled to 0–1), not a label
    /// volume's classes. (A label volume resampled with interpolation has fractions only along its
    /// regions' edges, a minority of its nonzero voxels.)
    pub fn like_image(&self) -> bool {
        self.distinct.len() > MANY || self.mostly_fractional()
    }

    /// A label volume's handful of classes, not an image's greys.
    pub fn like_labels(&self) -> bool {
        self.fractional == 0 && self.distinct.len() <= FEW
    }

    fn mostly_fractional(&self) -> bool {
        self.fractional * 2 > self.nonzero
    }

    /// Why the values look as they do, for messages: `1342 distinct values`, `only 0, 1, 2, 4`.
    pub fn describe(&self) -> String {
        if self.like_labels() {
            let all: Vec<String> = self.distinct.iter().map(i64::to_string).collect();
            return format!("only the values {}", all.join(", "));
        }
        let mut why = format!("{} distinct values", self.distinct.len());
        if self.mostly_fractional() {
            why += ", most of its nonzero voxels not whole numbers";
        }
        why
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn greys_and_fractions_look_like_an_image_a_few_classes_like_labels() {
        let greys: Vec<f32> = (0..200).map(|v| v as f32).collect();
        let unit: Vec<f32> = (0..200).map(|v| v as f32 / 200.0).collect();
        let brats = [0.0, 0.0, 1.0, 2.0, 4.0, 4.0];
        // Interpolated labels: fractions along the edge only.
        let resampled = [0.0, 0.0, 0.4, 1.0, 1.0, 1.0, 1.0];
        let (greys, unit) = (Values::of(&greys), Values::of(&unit));
        assert!(greys.like_image() && !greys.like_labels());
        assert!(unit.like_image() && !unit.like_labels());
        assert_eq!(greys.describe(), "200 distinct values");
        assert_eq!(
            unit.describe(),
            "2 distinct values, most of its nonzero voxels not whole numbers"
        );
        let brats = Values::of(&brats);
        assert!(brats.like_labels() && !brats.like_image());
        assert_eq!(brats.describe(), "only the values 0, 1, 2, 4");
        let resampled = Values::of(&resampled);
        assert!(!resampled.like_image() && !resampled.like_labels());
    }
}
