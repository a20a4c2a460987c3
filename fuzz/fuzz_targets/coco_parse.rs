//! Any bytes as a COCO annotation file: parsing must return Ok or a located error, never panic,
//! and whatever parses must rasterise. Also the compressed-RLE decoder on its own.
#![no_main]
use libfuzzer_sys::fuzz_target;
use std::path::Path;
use tumorseg_fuzz::{coco, mask};

fuzz_target!(|data: &[u8]| {
    if let Ok(f) = coco::parse(data, Path::new("fuzz.json")) {
        for issue in &f.issues {
            let _ = issue.to_string();
        }
        for a in &f.annotations {
            let Some(seg) = &a.segmentation else { continue };
            let img = f
                .images
                .iter()
                .find(|i| i.id == a.image_id)
                .expect("annotation without image kept");
            // Bounded sizes keep an iteration fast; big declared sizes are valid but slow.
            let (w, h) = (img.width.min(64), img.height.min(64));
            if let mask::Segmentation::Rle { height, width, .. } = seg {
                if *height as u64 * *width as u64 > 1 << 20 {
                    continue;
                }
            }
            let m = mask::rasterize_scaled(seg, img.width, img.height, w, h);
            assert!(m.iter().all(|&v| v <= 1));
        }
    }
    if let Ok(s) = std::str::from_utf8(data) {
        if let Ok(counts) = mask::rle_from_string(s) {
            let again = mask::rle_from_string(&mask::rle_to_string(&counts))
                .expect("re-encoded RLE decodes");
            assert_eq!(again, counts);
        }
    }
});
