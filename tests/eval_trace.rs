//! Traced polygons rasterise back to the mask (pycocotools semantics) with IoU ≥ 0.98, exactly when
//! not simplified; one region per 4-connected component with the right area, bbox and score.
mod common;

use image::{GrayImage, Luma};
use tumorseg::metrics::Confusion;
use tumorseg::trace::{regions, DEFAULT_EPSILON};

/// A mask with a disc, an ellipse, an L, a single pixel, a U closed by a diagonal pinch, and a blob
/// touching the image border.
fn shapes() -> GrayImage {
    let (w, h) = (120u32, 90u32);
    GrayImage::from_fn(w, h, |x, y| {
        let (fx, fy) = (x as f64 + 0.5, y as f64 + 0.5);
        let disc = (fx - 25.0).powi(2) + (fy - 25.0).powi(2) < 14.0f64.powi(2);
        let ellipse = ((fx - 80.0) / 22.0).powi(2) + ((fy - 20.0) / 9.0).powi(2) < 1.0;
        let l_shape = (10..16).contains(&x) && (50..80).contains(&y)
            || (10..40).contains(&x) && (74..80).contains(&y);
        let single = (x, y) == (60, 60);
        // U: two columns joined at the bottom; the right column's top pixel touches a pixel of the
        // left arm diagonally (a pinch inside one component).
        let u_shape = (70..73).contains(&x) && (50..70).contains(&y)
            || (80..83).contains(&x) && (52..70).contains(&y)
            || (70..83).contains(&x) && (67..70).contains(&y)
            || (73..80).contains(&x) && y == 50
            || (x, y) == (79, 51);
        let border = x + y < 8 || (x >= 110 && y >= 80);
        Luma([u8::from(disc || ellipse || l_shape || single || u_shape || border) * 255])
    })
}

/// COCO polygons cannot carry holes: the traced outline encloses them. Background pixels that a
/// 4-connected flood from the border cannot reach are holes and count as foreground.
fn fill_holes(mask: &GrayImage) -> GrayImage {
    let (w, h) = mask.dimensions();
    let mut outside = vec![false; (w * h) as usize];
    let mut stack: Vec<(u32, u32)> = (0..w)
        .flat_map(|x| [(x, 0), (x, h - 1)])
        .chain((0..h).flat_map(|y| [(0, y), (w - 1, y)]))
        .collect();
    while let Some((x, y)) = stack.pop() {
        let i = (y * w + x) as usize;
        if outside[i] || mask.get_pixel(x, y)[0] != 0 {
            continue;
        }
        outside[i] = true;
        if x > 0 {
            stack.push((x - 1, y));
        }
        if y > 0 {
            stack.push((x, y - 1));
        }
        if x + 1 < w {
            stack.push((x + 1, y));
        }
        if y + 1 < h {
            stack.push((x, y + 1));
        }
    }
    GrayImage::from_fn(w, h, |x, y| {
        Luma([u8::from(!outside[(y * w + x) as usize])])
    })
}

fn pycoco_rasterize(polys: &[Vec<f64>], w: u32, h: u32) -> GrayImage {
    let dir = tempfile::tempdir().unwrap();
    let spec = serde_json::json!({"width": w, "height": h, "polygons": polys});
    let input = dir.path().join("in.json");
    let output = dir.path().join("out.png");
    std::fs::write(&input, spec.to_string()).unwrap();
    common::run_py(
        "eval_rasterize.py",
        &[input.to_str().unwrap(), output.to_str().unwrap()],
    );
    image::open(&output).unwrap().to_luma8()
}

fn iou(a: &GrayImage, b: &GrayImage) -> f64 {
    Confusion::from_masks(a.as_raw(), b.as_raw()).iou()
}

#[test]
fn unsimplified_polygons_rasterise_back_exactly() {
    let mask = shapes();
    let regs = regions(&mask, None, 0.0);
    let polys: Vec<Vec<f64>> = regs.iter().map(|r| r.polygon.clone()).collect();
    let back = pycoco_rasterize(&polys, mask.width(), mask.height());
    let filled = fill_holes(&mask);
    assert!(
        Confusion::from_masks(filled.as_raw(), mask.as_raw()).fp > 50,
        "the U encloses a pinch hole"
    );
    let c = Confusion::from_masks(back.as_raw(), filled.as_raw());
    assert_eq!(
        (c.fp, c.fn_),
        (0, 0),
        "edge polygons must reproduce the mask pixel for pixel: {c:?}"
    );
}

#[test]
fn simplified_polygons_keep_iou_above_098() {
    let mask = shapes();
    let regs = regions(&mask, None, DEFAULT_EPSILON);
    let unsimplified: usize = regions(&mask, None, 0.0)
        .iter()
        .map(|r| r.polygon.len())
        .sum();
    let simplified: usize = regs.iter().map(|r| r.polygon.len()).sum();
    assert!(
        simplified < unsimplified,
        "simplification removes vertices ({simplified} vs {unsimplified})"
    );
    for r in &regs {
        assert!(
            r.polygon.len() >= 6,
            "a COCO polygon needs ≥ 3 points: {:?}",
            r.polygon
        );
    }
    let polys: Vec<Vec<f64>> = regs.iter().map(|r| r.polygon.clone()).collect();
    let back = pycoco_rasterize(&polys, mask.width(), mask.height());
    let mask = fill_holes(&mask);
    let v = iou(&back, &mask);
    assert!(v >= 0.98, "IoU {v}");
    // Each component on its own, too (small ones are the hard case).
    for r in &regs {
        let alone = pycoco_rasterize(
            std::slice::from_ref(&r.polygon),
            mask.width(),
            mask.height(),
        );
        let [x, y, w, h] = r.bbox.map(|v| v as u32);
        let truth = GrayImage::from_fn(mask.width(), mask.height(), |px, py| {
            let inside =
                px >= x && px < x + w && py >= y && py < y + h && mask.get_pixel(px, py)[0] != 0;
            Luma([u8::from(inside)])
        });
        // The bbox may also contain pixels of another component: compare on the traced pixels only.
        let c = Confusion::from_masks(alone.as_raw(), truth.as_raw());
        assert!(
            c.tp as f64 / r.area as f64 >= 0.97,
            "region {:?}: {c:?}",
            r.bbox
        );
    }
}

#[test]
fn a_one_pixel_image_traces_to_a_unit_square() {
    let regs = regions(&GrayImage::from_raw(1, 1, vec![255]).unwrap(), None, 0.0);
    assert_eq!(regs.len(), 1);
    assert_eq!(regs[0].area, 1);
    assert_eq!(
        regs[0].polygon,
        vec![0.0, 0.0, 1.0, 0.0, 1.0, 1.0, 0.0, 1.0]
    );
    assert!(regions(&GrayImage::new(1, 1), None, 0.0).is_empty());
}

#[test]
fn regions_report_area_bbox_and_score() {
    let mut mask = GrayImage::new(20, 10);
    for y in 2..5 {
        for x in 3..7 {
            mask.put_pixel(x, y, Luma([1]));
        }
    }
    mask.put_pixel(15, 8, Luma([1]));
    // Diagonal neighbours are separate components (4-connectivity).
    mask.put_pixel(16, 9, Luma([1]));
    let probs: Vec<f32> = (0..200)
        .map(|i| if i % 20 < 10 { 0.8 } else { 0.6 })
        .collect();
    let regs = regions(&mask, Some(&probs), DEFAULT_EPSILON);
    assert_eq!(regs.len(), 3);
    assert_eq!(regs[0].area, 12);
    assert_eq!(regs[0].bbox, [3.0, 2.0, 4.0, 3.0]);
    assert_eq!(
        regs[0].polygon,
        vec![3.0, 2.0, 7.0, 2.0, 7.0, 5.0, 3.0, 5.0]
    );
    assert!((regs[0].score - 0.8).abs() < 1e-6);
    assert_eq!(regs[1].bbox, [15.0, 8.0, 1.0, 1.0]);
    assert_eq!(
        regs[1].polygon,
        vec![15.0, 8.0, 16.0, 8.0, 16.0, 9.0, 15.0, 9.0]
    );
    assert!((regs[1].score - 0.6).abs() < 1e-6);
    assert_eq!(regs[2].area, 1);
    assert!(regions(&GrayImage::new(5, 5), None, 0.5).is_empty());
}

/// The fixture's real tumour masks, traced and rasterised back with `mask::rasterize` (the crate's
/// port of pycocotools): IoU ≥ 0.98 per image, and the crate agrees with pycocotools on the polygons.
#[test]
fn fixture_masks_round_trip_through_mask_rasterize() {
    use tumorseg::dataset::{load_split, SplitOptions};
    use tumorseg::mask::{rasterize, Segmentation};
    let samples = load_split(&common::fixture(), "test", &SplitOptions::default()).unwrap();
    let mut worst = 1.0f64;
    for s in &samples {
        let truth = fill_holes(&s.mask());
        let polys: Vec<Vec<f64>> = regions(&truth, None, DEFAULT_EPSILON)
            .into_iter()
            .map(|r| r.polygon)
            .collect();
        let back = rasterize(&Segmentation::Polygons(polys.clone()), s.width, s.height);
        let v = iou(&back, &truth);
        assert!(v >= 0.98, "{}: IoU {v}", s.stem);
        worst = worst.min(v);
        let exact: Vec<Vec<f64>> = regions(&truth, None, 0.0)
            .into_iter()
            .map(|r| r.polygon)
            .collect();
        let exact_back = rasterize(&Segmentation::Polygons(exact), s.width, s.height);
        assert_eq!(
            iou(&exact_back, &truth),
            1.0,
            "{}: unsimplified outline is exact",
            s.stem
        );
    }
    // One cross-check of the crate rasteriser against pycocotools on traced polygons.
    let mask = shapes();
    let polys: Vec<Vec<f64>> = regions(&mask, None, DEFAULT_EPSILON)
        .into_iter()
        .map(|r| r.polygon)
        .collect();
    let ours = rasterize(
        &Segmentation::Polygons(polys.clone()),
        mask.width(),
        mask.height(),
    );
    assert_eq!(ours, pycoco_rasterize(&polys, mask.width(), mask.height()));
    eprintln!("worst fixture IoU after simplification: {worst:.4}");
}
