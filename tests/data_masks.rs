//! Masks against pycocotools: every fixture annotation (polygons, and the same shapes re-encoded
//! by pycocotools as compressed and uncompressed RLE) and random multi-ring polygons.
mod common;
use std::collections::HashMap;
use std::path::Path;
use tumorseg::coco;
use tumorseg::mask::{self, Segmentation};

/// (differing pixels, agreement, IoU) of two 0/non-0 masks.
fn compare(ours: &image::GrayImage, reference: &image::GrayImage) -> (u64, f64, f64) {
    assert_eq!(ours.dimensions(), reference.dimensions());
    let (mut diff, mut inter, mut uni) = (0u64, 0u64, 0u64);
    for (a, b) in ours.iter().zip(reference.iter()) {
        let (a, b) = (*a != 0, *b != 0);
        diff += (a != b) as u64;
        inter += (a && b) as u64;
        uni += (a || b) as u64;
    }
    let n = ours.len() as f64;
    let iou = if uni == 0 {
        1.0
    } else {
        inter as f64 / uni as f64
    };
    (diff, 1.0 - diff as f64 / n, iou)
}

fn reference(dir: &Path, ann_id: u64) -> image::GrayImage {
    image::open(dir.join(format!("{ann_id}.png")))
        .unwrap()
        .to_luma8()
}

/// Per image: union of our masks vs union of pycocotools' masks. Returns total differing pixels.
fn check_file(file: &coco::CocoFile, refs: &Path, expect_kind: fn(&Segmentation) -> bool) -> u64 {
    let sizes: HashMap<u64, (u32, u32)> = file
        .images
        .iter()
        .map(|i| (i.id, (i.width, i.height)))
        .collect();
    let mut by_image: HashMap<u64, Vec<&coco::CocoAnnotation>> = HashMap::new();
    for a in &file.annotations {
        by_image.entry(a.image_id).or_default().push(a);
    }
    let mut total = 0;
    for (img, anns) in by_image {
        let (w, h) = sizes[&img];
        let segs: Vec<Segmentation> = anns
            .iter()
            .map(|a| a.segmentation.clone().unwrap())
            .collect();
        assert!(
            segs.iter().all(expect_kind),
            "image {img}: unexpected segmentation kind"
        );
        let ours = mask::union(&segs, w, h);
        let mut theirs = image::GrayImage::new(w, h);
        for a in &anns {
            for (t, r) in theirs.iter_mut().zip(reference(refs, a.id).iter()) {
                *t |= *r;
            }
        }
        let (diff, agree, iou) = compare(&ours, &theirs);
        assert!(
            agree >= 0.999 && iou >= 0.995,
            "image {img}: agreement {agree}, IoU {iou}"
        );
        total += diff;
    }
    total
}

fn is_poly(s: &Segmentation) -> bool {
    matches!(s, Segmentation::Polygons(_))
}
fn is_rle(s: &Segmentation) -> bool {
    matches!(s, Segmentation::Rle { .. })
}

/// pycocotools' masks for every annotation of `ann` (written into the returned temp dir) and our parse of it.
fn pycocotools_masks(ann: &Path) -> (tempfile::TempDir, coco::CocoFile) {
    let dir = tempfile::tempdir().unwrap();
    let args = [
        "fixture",
        ann.to_str().unwrap(),
        dir.path().to_str().unwrap(),
    ];
    common::run_py("data_masks_ref.py", &args);
    (dir, coco::load(ann).unwrap())
}

#[test]
fn fixture_polygons_and_rle_match_pycocotools() {
    for split in ["train", "valid", "test"] {
        let ann = common::fixture().join(split).join("_annotations.coco.json");
        let (dir, file) = pycocotools_masks(&ann);
        assert!(!file.annotations.is_empty());
        // Exact port of rleFrPoly: not a single pixel may differ.
        assert_eq!(
            check_file(&file, dir.path(), is_poly),
            0,
            "{split}: polygons"
        );
        let rle = coco::load(&dir.path().join("rle.json")).unwrap();
        assert_eq!(rle.annotations.len(), file.annotations.len());
        assert_eq!(check_file(&rle, dir.path(), is_rle), 0, "{split}: RLE");
    }
}

#[test]
fn random_multi_ring_polygons_match_pycocotools() {
    let dir = tempfile::tempdir().unwrap();
    common::run_py(
        "data_masks_ref.py",
        &["random", dir.path().to_str().unwrap(), "7"],
    );
    let file = coco::load(&dir.path().join("random.json")).unwrap();
    assert_eq!(file.annotations.len(), 24);
    assert_eq!(check_file(&file, dir.path(), is_poly), 0);
}

#[test]
fn scaled_polygon_equals_polygon_drawn_at_target_size() {
    let seg = Segmentation::Polygons(vec![vec![10.0, 20.0, 300.0, 40.0, 200.0, 600.0]]);
    let small = Segmentation::Polygons(vec![vec![2.0, 4.0, 60.0, 8.0, 40.0, 120.0]]);
    assert_eq!(
        mask::rasterize_scaled(&seg, 640, 640, 128, 128),
        mask::rasterize(&small, 128, 128)
    );
    // RLE: nearest resize of a 4x4 with the left half set gives the left half at 8x8.
    let rle = Segmentation::Rle {
        counts: vec![0, 8, 8],
        height: 4,
        width: 4,
    };
    let m = mask::rasterize_scaled(&rle, 4, 4, 8, 8);
    for (x, _, p) in m.enumerate_pixels() {
        assert_eq!(p[0], (x < 4) as u8);
    }
}

/// The whole real dataset against pycocotools (manual: not in CI, the data is not in the repo).
/// `TUMORSEG_REAL_DATASET=/path/to/brain-tumor-coco cargo test --release --test data_masks -- --ignored --nocapture`
#[test]
#[ignore]
fn real_dataset_matches_pycocotools() {
    let Some(root) = std::env::var_os("TUMORSEG_REAL_DATASET") else {
        panic!("set TUMORSEG_REAL_DATASET to the dataset root");
    };
    for split in ["train", "valid", "test"] {
        let ann = Path::new(&root).join(split).join("_annotations.coco.json");
        let (dir, file) = pycocotools_masks(&ann);
        let (mut min_agree, mut min_iou, mut diff) = (1.0f64, 1.0f64, 0u64);
        for a in &file.annotations {
            let img = file.images.iter().find(|i| i.id == a.image_id).unwrap();
            let ours = mask::rasterize(a.segmentation.as_ref().unwrap(), img.width, img.height);
            let (d, agree, iou) = compare(&ours, &reference(dir.path(), a.id));
            min_agree = min_agree.min(agree);
            min_iou = min_iou.min(iou);
            diff += d;
        }
        println!(
            "{split}: {} annotations, min pixel agreement {min_agree}, min IoU {min_iou}, differing pixels {diff}",
            file.annotations.len()
        );
        assert!(min_agree >= 0.999 && min_iou >= 0.995);
    }
}
