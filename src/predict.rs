//! Model inference: probabilities at each image's original size.
use serde::{Deserialize, Serialize};

/// Foreground probabilities of one image at its original size, row-major.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct ProbMap {
    pub width: u32,
    pub height: u32,
    pub data: Vec<f32>,
}

impl ProbMap {
    /// 0/1 mask with the one binarisation rule used everywhere: `prob > threshold`.
    pub fn to_mask(&self, threshold: f32) -> image::GrayImage {
        let data = self.data.iter().map(|&p| u8::from(p > threshold)).collect();
        image::GrayImage::from_raw(self.width, self.height, data).expect("ProbMap data matches its size")
    }
}
