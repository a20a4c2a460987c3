//! Outputs named after their inputs (a mask after its image's stem, a split's slice after its
//! volume's): two inputs whose names differ only in case (`A.jpg`, `a.png`) would be one file on the
//! file systems of macOS and Windows, which ignore case, so that one output would replace the other
//! there, or a dataset made on Linux would lose an image when copied there. Such names are refused
//! as two of one name are.
use crate::dataset::Sample;
use std::collections::HashMap;

/// Two inputs whose outputs would be one file, and that file's name as messages give it.
#[derive(Debug, PartialEq)]
pub struct Clash<'a, T> {
    pub first: &'a T,
    pub second: &'a T,
    pub name: String,
}

/// The first two of `items` whose output names (`name`) are one name where case is ignored.
pub fn clash<'a, T>(
    items: impl IntoIterator<Item = &'a T>,
    name: impl Fn(&T) -> String,
) -> Option<Clash<'a, T>> {
    let mut seen: HashMap<String, (&T, String)> = HashMap::new();
    for item in items {
        let own = name(item);
        let key = own.to_lowercase();
        if let Some((first, theirs)) = seen.get(&key) {
            return Some(Clash {
                first,
                second: item,
                name: one_file(theirs, &own),
            });
        }
        seen.insert(key, (item, own));
    }
    None
}

/// The name two outputs would share: itself, or both spellings when only their case differs, said
/// so, since on Linux they look like two names.
fn one_file(a: &str, b: &str) -> String {
    match a == b {
        true => a.to_string(),
        false => format!("{a} / {b} (one name where case is ignored, as on macOS and Windows)"),
    }
}

/// Two images of a split whose `<stem>.png` (a mask, a prediction) would be one file: the two as
/// messages name them (`image id 1 (…/a.jpg) and image id 2 (…/a.png)`), and that file's name.
pub fn shared_png(samples: &[Sample]) -> Option<(String, String)> {
    let c = clash(samples, |s| format!("{}.png", s.stem))?;
    let images = format!(
        "image id {} ({}) and image id {} ({})",
        c.first.id,
        c.first.path.display(),
        c.second.id,
        c.second.path.display()
    );
    Some((images, c.name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_that_differ_only_in_case_clash_and_both_spellings_are_given() {
        let names = ["b.png", "A.png", "c.png", "a.png"];
        let c = clash(&names, |n| n.to_string()).unwrap();
        assert_eq!((*c.first, *c.second), ("A.png", "a.png"));
        assert!(c
            .name
            .starts_with("A.png / a.png (one name where case is ignored"));
        let same = clash(&["a.png", "a.png"], |n| n.to_string()).unwrap();
        assert_eq!(same.name, "a.png");
        assert!(clash(&["a.png", "b.png", "ab.png"], |n| n.to_string()).is_none());
    }
}
