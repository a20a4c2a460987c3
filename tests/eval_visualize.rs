//! `visualize` on an untrained U-Net++ saved into a fake run directory (size 64, CPU): rows of four
//! panels, random and worst picks, per split.
mod common;

use common::{fake_run, stdout as tumorseg};
use image::RgbImage;

#[test]
fn visualize_writes_rows_of_four_distinct_panels() {
    let tmp = tempfile::tempdir().unwrap();
    let run = fake_run(tmp.path());
    let fix = common::fixture();
    let args = ["--device", "cpu", "--panel", "64", "--threshold", "0.5"];
    let random = [
        &[
            "visualize",
            run.to_str().unwrap(),
            fix.to_str().unwrap(),
            "--n",
            "3",
            "--seed",
            "1",
        ][..],
        &args,
    ]
    .concat();
    let out = tumorseg(&random);
    let files: Vec<&str> = out.lines().collect();
    assert_eq!(files.len(), 4, "stacked figure + 3 rows: {out}");
    let stacked = image::open(run.join("figures/random_test.png"))
        .unwrap()
        .to_rgb8();
    assert_eq!(stacked.dimensions(), (4 * 64, 3 * 64));
    for f in &files[1..] {
        let row = image::open(f).unwrap().to_rgb8();
        assert_eq!(row.dimensions(), (256, 64));
        let panel = |i: u32| image::imageops::crop_imm(&row, i * 64, 0, 64, 64).to_image();
        let p: Vec<RgbImage> = (0..4).map(panel).collect();
        for i in 0..4 {
            for j in i + 1..4 {
                assert_ne!(p[i], p[j], "panels {i} and {j} of {f} are identical");
            }
        }
        // Truth panel: binary white-on-black with some tumour; overlay: green truth outline present.
        assert!(p[1]
            .pixels()
            .all(|px| px.0 == [0, 0, 0] || px.0 == [255, 255, 255]));
        assert!(p[1].pixels().any(|px| px.0 == [255, 255, 255]));
        let outline = |c: [u8; 3]| p[3].pixels().any(|px| px.0 == c);
        assert!(outline(tumorseg::visualize::TRUTH.0) || outline(tumorseg::visualize::BOTH.0));
        // The Dice label's white text on its black box, top-left of the overlay.
        assert_eq!(p[3].get_pixel(3, 3).0, [0, 0, 0]);
    }
    // Same seed, same choice; worst mode writes its own figure.
    let again = tumorseg(&random);
    assert_eq!(again, out);
    tumorseg(
        &[
            &[
                "visualize",
                run.to_str().unwrap(),
                fix.to_str().unwrap(),
                "--worst",
                "2",
            ][..],
            &args,
        ]
        .concat(),
    );
    assert_eq!(
        image::open(run.join("figures/worst_test.png"))
            .unwrap()
            .to_rgb8()
            .dimensions(),
        (256, 128)
    );
    // One random sample now: the earlier random rows go, the worst ones stay; none is refused.
    let one = [&random[..4], &["1"], &args].concat();
    tumorseg(&one);
    let rows = |mode: &str| {
        std::fs::read_dir(run.join("figures"))
            .unwrap()
            .filter(|e| (e.as_ref().unwrap().file_name().to_string_lossy()).starts_with(mode))
            .count()
    };
    assert_eq!((rows("random_test_"), rows("worst_test_")), (1, 2));
    // Another split's figures go beside these: the test split's stay as they were.
    let test_figure = std::fs::read(run.join("figures/random_test.png")).unwrap();
    tumorseg(&[&one[..], &["--split", "valid"]].concat());
    assert!(run.join("figures/random_valid.png").is_file());
    assert_eq!(
        std::fs::read(run.join("figures/random_test.png")).unwrap(),
        test_figure
    );
    assert_eq!((rows("random_test_"), rows("random_valid_")), (1, 1));
    let none = [&random[..4], &["0"], &args].concat();
    let o = common::bin().args(&none).output().unwrap();
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && stderr.contains("at least 1"),
        "{stderr}"
    );
}

#[test]
fn more_rows_than_images_draws_them_all_and_says_so() {
    let tmp = tempfile::tempdir().unwrap();
    let run = fake_run(tmp.path());
    let fix = common::fixture();
    let o = common::run_ok(common::bin().args([
        "visualize",
        run.to_str().unwrap(),
        fix.to_str().unwrap(),
        "--n",
        "20",
        "--device",
        "cpu",
        "--panel",
        "32",
        "--threshold",
        "0.5",
    ]));
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        stderr.contains(r#"split "test" has 8 images: all of them are drawn"#),
        "{stderr}"
    );
    assert_eq!(String::from_utf8_lossy(&o.stdout).lines().count(), 1 + 8);
}
