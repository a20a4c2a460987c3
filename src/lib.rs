//! tumorseg: brain-tumour segmentation on COCO datasets, libtorch through `tch`.
//! Data flows one way: files → dataset → batches → model → predictions → metrics → reports.

pub mod atomic;
pub mod augment;
pub mod batches;
pub mod checkpoint;
pub mod clean;
pub mod coco;
pub mod commands;
pub mod compare;
pub mod dataset;
pub mod device;
pub mod dicom;
pub mod ensemble;
pub mod evaluate;
pub mod export;
pub mod font;
pub mod loss;
pub mod mask;
pub mod metrics;
pub mod model;
pub mod nifti;
pub mod pack;
pub mod postprocess;
pub mod predict;
pub mod progress;
pub mod provenance;
pub mod regions;
pub mod report;
pub mod scaler;
pub mod split_writer;
pub mod threshold;
pub mod trace;
pub mod train;
pub mod visualize;
pub mod weights;
pub mod window;
