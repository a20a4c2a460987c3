//! The COCO parser and mask code of tumorseg, compiled from the main crate's files.
#[path = "../../src/mask.rs"]
pub mod mask;

#[path = "../../src/coco.rs"]
pub mod coco;
