//! The SEG's attributes, module by module of the Segmentation IOD (PS3.3 A.51).
use super::{pack, Frame, Placed, SegType, Source};
use dicom_core::value::DataSetSequence;
use dicom_core::{dicom_value, DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::mem::InMemElement;
use dicom_object::InMemDicomObject;

/// A fresh UID under the 2.25 root (a random 128-bit number, PS3.5 B.2).
fn new_uid() -> String {
    format!("2.25.{}", rand::random::<u128>())
}

fn text(tag: Tag, vr: VR, value: &str) -> InMemElement {
    DataElement::new(tag, vr, PrimitiveValue::from(value))
}

fn sequence(tag: Tag, items: Vec<InMemDicomObject>) -> InMemElement {
    DataElement::new(tag, VR::SQ, DataSetSequence::from(items))
}

fn item(elements: impl IntoIterator<Item = InMemElement>) -> InMemDicomObject {
    InMemDicomObject::from_element_iter(elements)
}

/// A coded concept (Code Sequence Macro, PS3.3 8.8).
fn code(value: &str, scheme: &str, meaning: &str) -> InMemDicomObject {
    item([
        text(tags::CODE_VALUE, VR::SH, value),
        text(tags::CODING_SCHEME_DESIGNATOR, VR::SH, scheme),
        text(tags::CODE_MEANING, VR::LO, meaning),
    ])
}

/// The SEG of `kept` (frames with their position indices), which references the sources of all
/// `frames`.
pub(super) fn dataset(frames: &[Frame], kept: &[(&Frame, u32)], kind: SegType) -> InMemDicomObject {
    let first = frames[0].source;
    let now = chrono::Local::now();
    let (date, time) = (
        now.format("%Y%m%d").to_string(),
        now.format("%H%M%S").to_string(),
    );
    let organisation = new_uid();
    let mut obj = item(first.copied.iter().cloned());
    obj.put(text(
        tags::SOP_CLASS_UID,
        VR::UI,
        uids::SEGMENTATION_STORAGE,
    ));
    obj.put(text(tags::SOP_INSTANCE_UID, VR::UI, &new_uid()));
    obj.put(text(tags::STUDY_INSTANCE_UID, VR::UI, &first.study));
    obj.put(text(tags::SERIES_INSTANCE_UID, VR::UI, &new_uid()));
    obj.put(text(
        tags::FRAME_OF_REFERENCE_UID,
        VR::UI,
        &first.frame_of_reference,
    ));
    obj.put(text(tags::MODALITY, VR::CS, "SEG"));
    obj.put(text(tags::SERIES_NUMBER, VR::IS, "1"));
    // What a PACS or a viewer lists the series by.
    let description = match kind {
        SegType::Binary => "Tumour (tumorseg)",
        SegType::Fractional => "Tumour probability (tumorseg)",
    };
    obj.put(text(tags::SERIES_DESCRIPTION, VR::LO, description));
    obj.put(text(tags::INSTANCE_NUMBER, VR::IS, "1"));
    obj.put(DataElement::new(
        tags::IMAGE_TYPE,
        VR::CS,
        dicom_value!(Strs, ["DERIVED", "PRIMARY"]),
    ));
    for tag in [tags::INSTANCE_CREATION_DATE, tags::CONTENT_DATE] {
        obj.put(text(tag, VR::DA, &date));
    }
    for tag in [tags::INSTANCE_CREATION_TIME, tags::CONTENT_TIME] {
        obj.put(text(tag, VR::TM, &time));
    }
    for element in equipment()
        .into_iter()
        .chain(pixel_module(first, kept, kind))
    {
        obj.put(element);
    }
    for element in segmentation_module(kind) {
        obj.put(element);
    }
    obj.put(referenced_series(first, frames));
    obj.put(sequence(
        tags::DIMENSION_ORGANIZATION_SEQUENCE,
        vec![item([text(
            tags::DIMENSION_ORGANIZATION_UID,
            VR::UI,
            &organisation,
        )])],
    ));
    obj.put(dimensions(&organisation));
    obj.put(shared_groups(first));
    obj.put(per_frame_groups(kept));
    obj
}

/// General and Enhanced General Equipment: who made the SEG.
fn equipment() -> Vec<InMemElement> {
    let version = env!("CARGO_PKG_VERSION");
    vec![
        text(tags::MANUFACTURER, VR::LO, "tumorseg"),
        text(tags::MANUFACTURER_MODEL_NAME, VR::LO, "U-Net++ ResNet34"),
        text(tags::DEVICE_SERIAL_NUMBER, VR::LO, "1"),
        text(tags::SOFTWARE_VERSIONS, VR::LO, version),
    ]
}

/// Image Pixel: a binary SEG's 1-bit frames packed one after the other, a fractional one's bytes.
fn pixel_module(first: &Source, kept: &[(&Frame, u32)], kind: SegType) -> Vec<InMemElement> {
    let values = kept.iter().flat_map(|(f, _)| f.pixels.values());
    let mut data = match kind {
        SegType::Binary => pack(values.map(|v| v != 0)).bytes,
        SegType::Fractional => values.collect(),
    };
    if data.len() % 2 == 1 {
        data.push(0);
    }
    let bits = match kind {
        SegType::Binary => 1,
        SegType::Fractional => 8,
    };
    let us = |tag: Tag, v: u32| DataElement::new(tag, VR::US, PrimitiveValue::from(v as u16));
    vec![
        us(tags::SAMPLES_PER_PIXEL, 1),
        text(tags::PHOTOMETRIC_INTERPRETATION, VR::CS, "MONOCHROME2"),
        text(tags::NUMBER_OF_FRAMES, VR::IS, &kept.len().to_string()),
        us(tags::ROWS, first.rows),
        us(tags::COLUMNS, first.columns),
        us(tags::BITS_ALLOCATED, bits),
        us(tags::BITS_STORED, bits),
        us(tags::HIGH_BIT, bits - 1),
        us(tags::PIXEL_REPRESENTATION, 0),
        text(tags::LOSSY_IMAGE_COMPRESSION, VR::CS, "00"),
        text(tags::PRESENTATION_LUT_SHAPE, VR::CS, "IDENTITY"),
        DataElement::new(tags::PIXEL_DATA, VR::OB, PrimitiveValue::from(data)),
    ]
}

/// Segmentation Image: one segment, a neoplasm found by an AI algorithm; a fractional SEG's values
/// are probabilities.
fn segmentation_module(kind: SegType) -> Vec<InMemElement> {
    let algorithm = item([
        sequence(
            tags::ALGORITHM_FAMILY_CODE_SEQUENCE,
            vec![code("123110", "DCM", "Artificial Intelligence")],
        ),
        text(tags::ALGORITHM_NAME, VR::LO, "tumorseg"),
        text(tags::ALGORITHM_VERSION, VR::LO, env!("CARGO_PKG_VERSION")),
    ]);
    let segment = item([
        DataElement::new(tags::SEGMENT_NUMBER, VR::US, PrimitiveValue::from(1u16)),
        text(tags::SEGMENT_LABEL, VR::LO, "Tumour"),
        text(tags::SEGMENT_ALGORITHM_TYPE, VR::CS, "AUTOMATIC"),
        text(tags::SEGMENT_ALGORITHM_NAME, VR::LO, "tumorseg"),
        sequence(
            tags::SEGMENTATION_ALGORITHM_IDENTIFICATION_SEQUENCE,
            vec![algorithm],
        ),
        sequence(
            tags::SEGMENTED_PROPERTY_CATEGORY_CODE_SEQUENCE,
            vec![code(
                "49755003",
                "SCT",
                "Morphologically Abnormal Structure",
            )],
        ),
        sequence(
            tags::SEGMENTED_PROPERTY_TYPE_CODE_SEQUENCE,
            vec![code("108369006", "SCT", "Neoplasm")],
        ),
    ]);
    let mut module = match kind {
        SegType::Binary => vec![text(tags::SEGMENTATION_TYPE, VR::CS, "BINARY")],
        SegType::Fractional => vec![
            text(tags::SEGMENTATION_TYPE, VR::CS, "FRACTIONAL"),
            text(tags::SEGMENTATION_FRACTIONAL_TYPE, VR::CS, "PROBABILITY"),
            DataElement::new(
                tags::MAXIMUM_FRACTIONAL_VALUE,
                VR::US,
                PrimitiveValue::from(255u16),
            ),
        ],
    };
    module.extend([
        text(tags::SEGMENTS_OVERLAP, VR::CS, "NO"),
        sequence(tags::SEGMENT_SEQUENCE, vec![segment]),
        text(tags::CONTENT_LABEL, VR::CS, "TUMOUR"),
        text(
            tags::CONTENT_DESCRIPTION,
            VR::LO,
            "Brain tumour predicted by tumorseg",
        ),
        text(tags::CONTENT_CREATOR_NAME, VR::PN, ""),
    ]);
    module
}

/// Common Instance Reference: every source instance, under its series.
fn referenced_series(first: &Source, frames: &[Frame]) -> InMemElement {
    let mut instances: Vec<(&str, &str)> = frames
        .iter()
        .map(|f| (f.source.sop_class.as_str(), f.source.sop_instance.as_str()))
        .collect();
    instances.sort_unstable();
    instances.dedup();
    let instances = instances
        .into_iter()
        .map(|(class, instance)| {
            item([
                text(tags::REFERENCED_SOP_CLASS_UID, VR::UI, class),
                text(tags::REFERENCED_SOP_INSTANCE_UID, VR::UI, instance),
            ])
        })
        .collect();
    sequence(
        tags::REFERENCED_SERIES_SEQUENCE,
        vec![item([
            text(tags::SERIES_INSTANCE_UID, VR::UI, &first.series),
            sequence(tags::REFERENCED_INSTANCE_SEQUENCE, instances),
        ])],
    )
}

/// Frames are indexed by segment, then by position.
fn dimensions(organisation: &str) -> InMemElement {
    let dimension = |index: Tag, group: Tag, label: &str| {
        item([
            text(tags::DIMENSION_ORGANIZATION_UID, VR::UI, organisation),
            DataElement::new(
                tags::DIMENSION_INDEX_POINTER,
                VR::AT,
                PrimitiveValue::from(index),
            ),
            DataElement::new(
                tags::FUNCTIONAL_GROUP_POINTER,
                VR::AT,
                PrimitiveValue::from(group),
            ),
            text(tags::DIMENSION_DESCRIPTION_LABEL, VR::LO, label),
        ])
    };
    sequence(
        tags::DIMENSION_INDEX_SEQUENCE,
        vec![
            dimension(
                tags::REFERENCED_SEGMENT_NUMBER,
                tags::SEGMENT_IDENTIFICATION_SEQUENCE,
                "Referenced Segment Number",
            ),
            dimension(
                tags::IMAGE_POSITION_PATIENT,
                tags::PLANE_POSITION_SEQUENCE,
                "Image Position Patient",
            ),
        ],
    )
}

/// What all frames share: orientation, pixel measures, and the one segment.
fn shared_groups(first: &Source) -> InMemElement {
    let mut groups = vec![
        sequence(
            tags::PLANE_ORIENTATION_SEQUENCE,
            vec![item([first.orientation.clone()])],
        ),
        sequence(
            tags::SEGMENT_IDENTIFICATION_SEQUENCE,
            vec![item([DataElement::new(
                tags::REFERENCED_SEGMENT_NUMBER,
                VR::US,
                PrimitiveValue::from(1u16),
            )])],
        ),
    ];
    if !first.measures.is_empty() {
        groups.push(sequence(
            tags::PIXEL_MEASURES_SEQUENCE,
            vec![item(first.measures.iter().cloned())],
        ));
    }
    sequence(tags::SHARED_FUNCTIONAL_GROUPS_SEQUENCE, vec![item(groups)])
}

/// Each frame: the slice it was derived from, its dimension index and its position.
fn per_frame_groups(kept: &[(&Frame, u32)]) -> InMemElement {
    let groups = kept
        .iter()
        .map(|&(f, index)| {
            let mut source = vec![
                text(tags::REFERENCED_SOP_CLASS_UID, VR::UI, &f.source.sop_class),
                text(
                    tags::REFERENCED_SOP_INSTANCE_UID,
                    VR::UI,
                    &f.source.sop_instance,
                ),
                text(tags::SPATIAL_LOCATIONS_PRESERVED, VR::CS, "YES"),
                sequence(
                    tags::PURPOSE_OF_REFERENCE_CODE_SEQUENCE,
                    vec![code(
                        "121322",
                        "DCM",
                        "Source image for image processing operation",
                    )],
                ),
            ];
            if f.source.multi_frame {
                source.push(text(
                    tags::REFERENCED_FRAME_NUMBER,
                    VR::IS,
                    &(f.frame + 1).to_string(),
                ));
            }
            let derivation = item([
                sequence(tags::SOURCE_IMAGE_SEQUENCE, vec![item(source)]),
                sequence(
                    tags::DERIVATION_CODE_SEQUENCE,
                    vec![code("113076", "DCM", "Segmentation")],
                ),
            ]);
            item([
                sequence(tags::DERIVATION_IMAGE_SEQUENCE, vec![derivation]),
                sequence(
                    tags::FRAME_CONTENT_SEQUENCE,
                    vec![item([DataElement::new(
                        tags::DIMENSION_INDEX_VALUES,
                        VR::UL,
                        PrimitiveValue::from([1u32, index]),
                    )])],
                ),
                sequence(
                    tags::PLANE_POSITION_SEQUENCE,
                    vec![item([f.position().clone()])],
                ),
            ])
        })
        .collect();
    sequence(tags::PER_FRAME_FUNCTIONAL_GROUPS_SEQUENCE, groups)
}
