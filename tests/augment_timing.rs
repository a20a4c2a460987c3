//! Manual timing of the augmentation steps (`cargo test --release --test augment_timing -- --ignored
//! --nocapture`); ignored by default because timings on a shared machine prove nothing.
use std::time::Instant;
use tumorseg::augment::{self, AugmentConfig, Noise, Plane};

fn plane(n: usize) -> Plane {
    let mut p = Plane::new(n, n);
    for (i, v) in p.data.iter_mut().enumerate() {
        *v = ((i * 7919) % 255) as f32 / 255.0;
    }
    p
}

/// This thread's CPU seconds (utime + stime, 10 ms ticks): robust to other users of the cores.
fn cpu_s() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap();
    let after = &stat[stat.rfind(')').unwrap() + 2..];
    let f: Vec<&str> = after.split_whitespace().collect();
    (f[11].parse::<f64>().unwrap() + f[12].parse::<f64>().unwrap()) / 100.0
}

/// (wall ms, cpu ms) per call, over enough calls for ~0.5 s of CPU.
fn ms(f: impl Fn()) -> String {
    f();
    let (t, c) = (Instant::now(), cpu_s());
    let mut reps = 0;
    while cpu_s() - c < 0.5 {
        f();
        reps += 1;
    }
    let wall = t.elapsed().as_secs_f64() * 1000.0 / reps as f64;
    format!(
        "{wall:.2} wall, {:.2} cpu",
        (cpu_s() - c) * 1000.0 / reps as f64
    )
}

#[test]
#[ignore]
fn timing_640() {
    let cfg = AugmentConfig::default().elastic;
    let uni = augment::ElasticConfig {
        noise: Noise::Uniform,
        ..cfg.clone()
    };
    let (img, mask) = (plane(640), plane(640));
    println!(
        "fields gaussian : {} ms",
        ms(|| {
            augment::displacement_fields(640, 640, &cfg, 1);
        })
    );
    println!(
        "fields uniform  : {} ms",
        ms(|| {
            augment::displacement_fields(640, 640, &uni, 1);
        })
    );
    println!(
        "elastic total   : {} ms",
        ms(|| {
            let (mut i, mut m) = (img.clone(), mask.clone());
            augment::elastic(&mut i, &mut m, &cfg, 1);
        })
    );
    println!(
        "rotate (remap)  : {} ms",
        ms(|| {
            let (mut i, mut m) = (img.clone(), mask.clone());
            augment::rotate(&mut i, &mut m, 10.0);
        })
    );
    println!(
        "blur sigma 3    : {} ms",
        ms(|| {
            let mut i = img.clone();
            augment::gaussian_blur(&mut i, 3.0);
        })
    );
    println!(
        "rot90           : {} ms",
        ms(|| {
            let mut i = img.clone();
            augment::rot90(&mut i, 1);
        })
    );
    println!(
        "clone           : {} ms",
        ms(|| {
            let _ = img.clone();
        })
    );
}
