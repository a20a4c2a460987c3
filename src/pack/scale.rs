//! An annotation moved to its image's packed size: boxes and polygons scaled, RLE masks resized.
use crate::coco::CocoAnnotation;
use crate::mask::{self, Segmentation};
use serde_json::{json, Map, Value};
use std::collections::HashMap;

/// An image's size (width, height) before and after packing.
#[derive(Clone, Copy, Debug)]
pub struct Resized {
    pub id: u64,
    pub from: (u32, u32),
    pub to: (u32, u32),
}

impl Resized {
    pub fn unchanged(id: u64) -> Resized {
        Resized {
            id,
            from: (1, 1),
            to: (1, 1),
        }
    }

    fn factors(&self) -> (f64, f64) {
        (
            self.to.0 as f64 / self.from.0 as f64,
            self.to.1 as f64 / self.from.1 as f64,
        )
    }
}

/// Rescales every annotation of the raw COCO document `raw` with the factors of its image; `parsed`
/// are its annotations as `coco::load` read them (RLE counts decoded).
pub fn rescale_annotations(raw: &mut Value, parsed: &[CocoAnnotation], sizes: &[Resized]) {
    let by_image: HashMap<u64, &Resized> = sizes.iter().map(|r| (r.id, r)).collect();
    let by_index: HashMap<usize, &CocoAnnotation> = parsed.iter().map(|a| (a.index, a)).collect();
    let Some(anns) = raw.get_mut("annotations").and_then(Value::as_array_mut) else {
        return;
    };
    for (i, ann) in anns.iter_mut().enumerate() {
        let parsed = by_index.get(&i);
        let image = parsed
            .map(|a| a.image_id)
            .or_else(|| ann.get("image_id")?.as_u64())
            .and_then(|id| by_image.get(&id));
        if let Some(size) = image.filter(|s| s.from != s.to) {
            let seg = parsed.and_then(|a| a.segmentation.as_ref());
            scale_annotation(ann, size, seg);
        }
    }
}

/// `seg` is the annotation's segmentation as parsed, None when it has none or it was unusable.
fn scale_annotation(ann: &mut Value, size: &Resized, seg: Option<&Segmentation>) {
    let (sx, sy) = size.factors();
    if let Some(bbox) = ann.get_mut("bbox").and_then(Value::as_array_mut) {
        scale_xy(bbox, sx, sy);
    }
    let area = match (ann.get_mut("segmentation"), seg) {
        (Some(Value::Object(rle)), Some(seg @ Segmentation::Rle { .. })) => {
            Some(resize_rle(rle, seg, size) as f64)
        }
        (Some(Value::Array(rings)), _) => {
            // A flat [x1, y1, …] list is read as one ring (coco::load): scaled as one.
            if rings.iter().all(|r| !r.is_array()) {
                scale_xy(rings, sx, sy);
            }
            for ring in rings.iter_mut().filter_map(Value::as_array_mut) {
                scale_xy(ring, sx, sy);
            }
            None
        }
        // An RLE that cannot be decoded is kept as it is: every reader drops it, and `clean`
        // still reports it.
        _ => None,
    };
    if let Some(a) = ann.get("area").and_then(Value::as_f64) {
        ann["area"] = Value::from(area.unwrap_or(a * sx * sy));
    }
}

/// Alternate x, y values scaled by `sx`, `sy`.
fn scale_xy(values: &mut [Value], sx: f64, sy: f64) {
    for (i, v) in values.iter_mut().enumerate() {
        if let Some(x) = v.as_f64() {
            *v = Value::from(x * if i % 2 == 0 { sx } else { sy });
        }
    }
}

/// The RLE object `rle` re-encoded at the packed size: its mask, decoded at the image's size as every
/// reader does, resized nearest-neighbour (a mask stays 0/1). Returns its pixels of tumour.
fn resize_rle(rle: &mut Map<String, Value>, seg: &Segmentation, size: &Resized) -> usize {
    let ((w, h), (nw, nh)) = (size.from, size.to);
    let resized = mask::rasterize_scaled(seg, w, h, nw, nh);
    let counts = mask::mask_to_rle(&resized);
    // In the form it came in: a compressed string stays one, a list of counts a list.
    let compressed = rle.get("counts").is_some_and(Value::is_string);
    rle.insert(
        "counts".into(),
        if compressed {
            Value::from(mask::rle_to_string(&counts))
        } else {
            Value::from(counts)
        },
    );
    rle.insert("size".into(), json!([nh, nw]));
    resized.iter().filter(|&&v| v != 0).count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packed(annotation: Value, from: (u32, u32), to: (u32, u32)) -> Value {
        let doc = json!({
            "images": [{"id": 1, "file_name": "a.png", "width": from.0, "height": from.1}],
            "annotations": [annotation],
        });
        let mut file = crate::coco::parse(doc.to_string().as_bytes(), "a.json".as_ref()).unwrap();
        let size = Resized { id: 1, from, to };
        rescale_annotations(&mut file.raw, &file.annotations, &[size]);
        file.raw["annotations"][0].take()
    }

    #[test]
    fn a_flat_polygon_list_is_scaled_as_one_ring() {
        let ann = json!({"id": 1, "image_id": 1, "segmentation": [2, 2, 8, 2, 8, 6]});
        let got = packed(ann, (10, 8), (5, 4));
        assert_eq!(got["segmentation"], json!([1.0, 1.0, 4.0, 1.0, 4.0, 3.0]));
    }

    #[test]
    fn an_rle_is_resized_in_the_form_it_came_in_and_absent_fields_stay_absent() {
        let mut truth = image::GrayImage::new(8, 6);
        (2..6).for_each(|x| (1..5).for_each(|y| truth.put_pixel(x, y, image::Luma([1]))));
        let counts = mask::mask_to_rle(&truth);
        let expected = mask::mask_to_rle(&image::imageops::resize(
            &truth,
            4,
            3,
            image::imageops::FilterType::Nearest,
        ));
        for (given, want) in [
            (json!(counts), json!(expected)),
            (
                json!(mask::rle_to_string(&counts)),
                json!(mask::rle_to_string(&expected)),
            ),
        ] {
            let seg = json!({"size": [6, 8], "counts": given});
            let ann = json!({"id": 1, "image_id": 1, "segmentation": seg, "area": 16});
            let got = packed(ann, (8, 6), (4, 3));
            assert_eq!(got["segmentation"], json!({"size": [3, 4], "counts": want}));
            assert_eq!(got["area"], json!(4.0));
            assert!(got.get("bbox").is_none(), "{got}");
        }
    }
}
