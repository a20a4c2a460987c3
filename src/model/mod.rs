//! U-Net++ with a ResNet34 encoder, parameter names as segmentation_models_pytorch 0.6.0.
pub mod resnet;
pub mod unetpp;

/// `tumorseg info --model`: parameter counts of the U-Net++/ResNet34 as built here.
pub fn print_parameter_counts() {
    println!("model: not implemented yet");
}
