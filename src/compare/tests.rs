use super::*;

const HEADER: &str = "image_id,stem,width,height,truth_pixels,pred_pixels,tp,fp,fn,tn,dice,iou,precision,recall,f1,accuracy\n";

fn write(dir: &Path, name: &str, rows: &[&str]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, HEADER.to_string() + &rows.join("\n") + "\n").unwrap();
    path
}

#[test]
fn rows_match_by_stem_quoted_names_included_and_the_rest_is_counted() {
    let dir = tempfile::tempdir().unwrap();
    // The scores' own columns are ignored: the counts decide.
    let a = write(
        dir.path(),
        "a.csv",
        &[
            "1,\"x,1\",4,4,4,4,2,2,2,10,0,0,0,0,0,0",
            "2,y,4,4,4,4,4,0,0,12,0,0,0,0,0,0",
            "3,only_a,4,4,0,0,0,0,0,16,0,0,0,0,0,0",
        ],
    );
    let b = write(
        dir.path(),
        "b.csv",
        &[
            "2,y,4,4,4,4,4,0,0,12,0,0,0,0,0,0",
            "1,\"x,1\",4,4,4,4,4,0,0,12,0,0,0,0,0,0",
            "9,only_b,4,4,0,0,0,0,0,16,0,0,0,0,0,0",
        ],
    );
    let (ra, rb) = (read_per_image(&a).unwrap(), read_per_image(&b).unwrap());
    assert_eq!(ra[0].stem, "x,1");
    assert_eq!(ra[0].hd95, None, "files without the column read as before");
    let c = compare(&ra, &rb).unwrap();
    assert_eq!((c.n_images, c.only_a, c.only_b), (2, 1, 1));
    // x: Dice 0.5 → 1; y: 1 → 1.
    assert_eq!((c.b_better, c.b_worse, c.tied), (1, 0, 1));
    assert!((c.a_mean.dice - 0.75).abs() < 1e-12 && (c.b_mean.dice - 1.0).abs() < 1e-12);
    let text = markdown(&c, "A", "B");
    assert!(
        text.contains("| Dice | 0.7500 | 1.0000 | +0.2500 |"),
        "{text}"
    );
    assert!(
        text.contains("1 only in A and 1 only in B left out"),
        "{text}"
    );
    assert_eq!(c.truth_differs, 0);
    assert!(!text.contains("warning"), "{text}");
    // Another truth for y (5 tumour pixels instead of 4), or another size for x: flagged.
    let other = write(
        dir.path(),
        "other.csv",
        &[
            "2,y,4,4,5,4,4,0,1,11,0,0,0,0,0,0",
            "1,\"x,1\",4,5,4,4,4,0,0,16,0,0,0,0,0,0",
        ],
    );
    let c = compare(&ra, &read_per_image(&other).unwrap()).unwrap();
    assert_eq!(c.truth_differs, 2);
    let text = markdown(&c, "A", "B");
    assert!(text.contains("on 2 of the 2 shared images"), "{text}");
    let none = write(dir.path(), "c.csv", &["5,z,4,4,0,0,0,0,0,16,0,0,0,0,0,0"]);
    let err = compare(&ra, &read_per_image(&none).unwrap()).unwrap_err();
    assert!(err.to_string().contains("share no image"), "{err}");
    std::fs::write(dir.path().join("bad.csv"), "stem,dice\nx,1\n").unwrap();
    // What `evaluate` writes reads back, odd names included.
    let rows: Vec<crate::report::ImageRow> = [("a,\"b\"", 3), ("plain", 0)]
        .iter()
        .map(|&(stem, tp)| crate::report::ImageRow {
            id: 1,
            stem: stem.into(),
            width: 2,
            height: 2,
            confusion: Confusion {
                tp,
                fp: 1,
                fn_: 0,
                tn: 4 - tp - 1,
            },
            surface: (tp > 0).then_some(crate::metrics::surface::Surface {
                hd95: 2.5,
                assd: 1.0,
            }),
            distance_unit: crate::metrics::surface::Unit::Mm,
        })
        .collect();
    let written = dir.path().join("per_image.csv");
    std::fs::write(&written, crate::report::csv(&rows)).unwrap();
    let back = read_per_image(dir.path()).unwrap();
    assert_eq!(
        (back[0].stem.as_str(), back[0].confusion),
        ("a,\"b\"", rows[0].confusion)
    );
    assert_eq!(
        (back[1].stem.as_str(), back[1].confusion),
        ("plain", rows[1].confusion)
    );
    assert_eq!((back[0].hd95, back[1].hd95), (Some(2.5), None));
    let err = read_per_image(&dir.path().join("bad.csv")).unwrap_err();
    assert!(
        format!("{err:#}").contains("not an evaluate per_image.csv"),
        "{err:#}"
    );
}

#[test]
fn hd95_is_compared_on_the_images_both_sides_have_one() {
    let dir = tempfile::tempdir().unwrap();
    let header = HEADER.trim_end().to_string() + ",hd95,assd\n";
    let file = |name: &str, rows: &[&str]| {
        let path = dir.path().join(name);
        std::fs::write(&path, header.clone() + &rows.join("\n") + "\n").unwrap();
        read_per_image(&path).unwrap()
    };
    let a = file(
        "a.csv",
        &[
            "1,x,4,4,4,4,2,2,2,10,0,0,0,0,0,0,10.0,3.0",
            "2,y,4,4,4,4,2,2,2,10,0,0,0,0,0,0,20.0,5.0",
            "3,z,4,4,4,0,0,0,4,12,0,0,0,0,0,0,,",
        ],
    );
    let b = file(
        "b.csv",
        &[
            "1,x,4,4,4,4,3,1,1,11,0,0,0,0,0,0,4.0,1.0",
            "2,y,4,4,4,4,3,1,1,11,0,0,0,0,0,0,6.0,2.0",
            "3,z,4,4,4,4,3,1,1,11,0,0,0,0,0,0,3.0,1.0",
        ],
    );
    assert_eq!(a[2].hd95, None);
    let c = compare(&a, &b).unwrap();
    let h = c.hd95.as_ref().expect("two images have both");
    // z has none on A's side; x and y differ by −6 and −14, so a resample's mean is −6, −10 or −14.
    assert_eq!((h.n_images, h.a_mean, h.b_mean), (2, 15.0, 5.0));
    assert_eq!(h.difference_ci95, Some((-14.0, -6.0)));
    let text = markdown(&c, "A", "B");
    assert!(
        text.contains(
            "HD95 in pixels (lower is better), over the 2 images where both have one: A 15.00, \
             B 5.00, B − A -10.00 (95 % interval -14.00 … -6.00): B's outlines lie closer to the \
             truth's."
        ),
        "{text}"
    );
    // Without the column (older files), no HD95 line.
    assert!(compare(&a, &a).unwrap().hd95.is_some());
    let old = read_per_image(&write(
        dir.path(),
        "old.csv",
        &["1,x,4,4,4,4,2,2,2,10,0,0,0,0,0,0"],
    ))
    .unwrap();
    assert!(compare(&old, &b).unwrap().hd95.is_none());
    // A in mm (annotations with pixel spacings), B in pixels: not compared, and said so.
    let header = HEADER.trim_end().to_string() + ",hd95,assd,distance_unit\n";
    let path = dir.path().join("mm.csv");
    let rows = [
        "1,x,4,4,4,4,2,2,2,10,0,0,0,0,0,0,5.0,1.5,mm",
        "2,y,4,4,4,4,2,2,2,10,0,0,0,0,0,0,9.0,3.0,mm",
    ];
    std::fs::write(&path, header + &rows.join("\n") + "\n").unwrap();
    let mm = read_per_image(&path).unwrap();
    assert!(compare(&mm, &mm).unwrap().hd95_units_differ.is_none());
    let c = compare(&mm, &b).unwrap();
    assert!(c.hd95.is_none());
    let text = markdown(&c, "A", "B");
    assert!(
        text.contains("on 2 of the 2 shared images A gives HD95 in mm and B in pixels"),
        "{text}"
    );
}

#[test]
fn volumes_are_compared_in_their_own_section() {
    let dir = tempfile::tempdir().unwrap();
    let rows = |name: &str, tp: u32| {
        let row = |k: u32| format!("{k},v{k},4,4,4,4,{tp},0,{},12,0,0,0,0,0,0", 4 - tp);
        let path = write(dir.path(), name, &[&row(1), &row(2)]);
        read_rows(&path).unwrap()
    };
    let (a, b) = (rows("a.csv", 2), rows("b.csv", 4));
    let mut c = compare(&a, &b).unwrap();
    c.per_volume = Some(Box::new(compare_as(&a, &b, "volume").unwrap()));
    let text = markdown(&c, "A", "B");
    let (images, volumes) = text.split_once("Per volume (").expect("a volume section");
    assert!(images.contains("2 images compared"), "{text}");
    assert!(volumes.contains("2 volumes compared"), "{text}");
    assert!(
        volumes.contains("Per volume, B's Dice is higher on 2"),
        "{text}"
    );
    let json = serde_json::to_value(&c).unwrap();
    assert_eq!(json["per_volume"]["n_images"], 2);
    assert!(json["per_volume"].get("per_volume").is_none());
    let err = compare_as(&a, &rows("c.csv", 4)[..0], "volume").unwrap_err();
    assert!(err.to_string().contains("share no volume"), "{err}");
}

/// One case resampled is always itself: its interval was the difference twice, and the verdict
/// called a single image's difference significant.
#[test]
fn a_single_shared_case_gets_no_interval_and_no_verdict() {
    let dir = tempfile::tempdir().unwrap();
    let a = write(dir.path(), "a.csv", &["1,x,4,4,4,4,2,2,2,10,0,0,0,0,0,0"]);
    let b = write(dir.path(), "b.csv", &["1,x,4,4,4,4,4,0,0,12,0,0,0,0,0,0"]);
    let c = compare(&read_per_image(&a).unwrap(), &read_per_image(&b).unwrap()).unwrap();
    assert_eq!((c.n_images, c.b_better), (1, 1));
    assert!(c.difference_ci95.is_none());
    let text = markdown(&c, "A", "B");
    assert!(
        text.contains("| Dice | 0.5000 | 1.0000 | +0.5000 | – |"),
        "{text}"
    );
    assert!(text.contains("can be told from a single image"), "{text}");
    assert!(!text.contains("excludes 0"), "{text}");
    let json = serde_json::to_value(&c).unwrap();
    assert!(json.get("difference_ci95").is_none(), "{json}");
}
