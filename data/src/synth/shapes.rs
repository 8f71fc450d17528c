//! The procedural doodle classes: each draws strokes in a unit frame (roughly −1…1, y down) with its
//! own structural variation (proportions, stroke split, overshoot, optional parts); the shared
//! distortions (rotation, wobble, jitter) are applied afterwards in `mod.rs`.

use std::f32::consts::{PI, TAU};

use rand::Rng;

/// A stroke as points in the unit frame.
pub(super) type Path = Vec<(f32, f32)>;

/// Class names, in the stable order labels index.
pub const CLASS_NAMES: [&str; 12] = [
    "circle",
    "square",
    "triangle",
    "star",
    "zigzag",
    "spiral",
    "house",
    "smiley",
    "arrow",
    "cloud",
    "heart",
    "lightning",
];

/// Draws class `class` (an index into [`CLASS_NAMES`]).
pub(super) fn draw(class: usize, rng: &mut impl Rng) -> Vec<Path> {
    match class {
        0 => circle(rng),
        1 => square(rng),
        2 => triangle(rng),
        3 => star(rng),
        4 => zigzag(rng),
        5 => spiral(rng),
        6 => house(rng),
        7 => smiley(rng),
        8 => arrow(rng),
        9 => cloud(rng),
        10 => heart(rng),
        _ => lightning(rng),
    }
}

/// An elliptical arc from angle `a0` sweeping `sweep` radians.
fn arc(cx: f32, cy: f32, rx: f32, ry: f32, a0: f32, sweep: f32, n: usize) -> Path {
    (0..=n)
        .map(|i| {
            let a = a0 + sweep * i as f32 / n as f32;
            (cx + rx * a.cos(), cy + ry * a.sin())
        })
        .collect()
}

/// A polyline through `corners`, resampled so that wobble has points to bend.
fn poly(corners: &[(f32, f32)], per_edge: usize) -> Path {
    let mut out = Vec::with_capacity(corners.len() * per_edge);
    for w in corners.windows(2) {
        for i in 0..per_edge {
            let t = i as f32 / per_edge as f32;
            out.push((
                w[0].0 + t * (w[1].0 - w[0].0),
                w[0].1 + t * (w[1].1 - w[0].1),
            ));
        }
    }
    if let Some(&last) = corners.last() {
        out.push(last);
    }
    out
}

/// A closed polygon, drawn as one stroke (overshooting the start, or stopping short of it) or one
/// stroke per edge.
fn closed(corners: &[(f32, f32)], rng: &mut impl Rng) -> Vec<Path> {
    let n = corners.len();
    let start = rng.gen_range(0..n);
    let mut ring: Vec<(f32, f32)> = (0..=n).map(|i| corners[(start + i) % n]).collect();
    if rng.gen_bool(0.25) {
        return ring.windows(2).map(|w| poly(w, 6)).collect();
    }
    let lerp =
        |a: (f32, f32), b: (f32, f32), t: f32| (a.0 + t * (b.0 - a.0), a.1 + t * (b.1 - a.1));
    let end: f32 = rng.gen_range(-0.2..0.3);
    if end > 0.0 {
        // Overshoot: on along the first edge.
        ring.push(lerp(ring[0], ring[1], end));
    } else {
        // A gap: the last edge stops short.
        let last = ring[n];
        ring[n] = lerp(ring[n - 1], last, 1.0 + end);
    }
    vec![poly(&ring, 6)]
}

/// The largest rotation (radians, either way) a class is drawn at: round and symmetric things and
/// things that point turn freely, things that stand stay nearly upright.
pub(super) fn max_rotation(class: usize) -> f32 {
    match CLASS_NAMES[class.min(CLASS_NAMES.len() - 1)] {
        "circle" | "spiral" | "arrow" => PI / 2.0,
        "zigzag" => PI / 4.0,
        "square" => PI / 8.0,
        "triangle" | "star" => 0.3,
        "lightning" => 0.25,
        _ => 0.15,
    }
}

fn circle(rng: &mut impl Rng) -> Vec<Path> {
    let ry = rng.gen_range(0.65..1.0);
    let a0 = rng.gen_range(0.0..TAU);
    if rng.gen_bool(0.15) {
        // Two halves.
        let mid = PI + rng.gen_range(-0.3..0.3);
        return vec![
            arc(0.0, 0.0, 1.0, ry, a0, mid + 0.1, 18),
            arc(0.0, 0.0, 1.0, ry, a0 + mid, TAU - mid + 0.15, 18),
        ];
    }
    let sweep = TAU + rng.gen_range(-0.5..0.7);
    vec![arc(0.0, 0.0, 1.0, ry, a0, sweep, 36)]
}

fn square(rng: &mut impl Rng) -> Vec<Path> {
    let h = rng.gen_range(0.6..1.0);
    let c = [(-1.0, -h), (1.0, -h), (1.0, h), (-1.0, h)];
    closed(&c, rng)
}

fn triangle(rng: &mut impl Rng) -> Vec<Path> {
    let apex = rng.gen_range(-0.7..0.7);
    let base = rng.gen_range(0.4..0.9);
    let c = [(apex, -1.0), (1.0, base), (-1.0, base)];
    closed(&c, rng)
}

fn star(rng: &mut impl Rng) -> Vec<Path> {
    let a0 = -PI / 2.0;
    if rng.gen_bool(0.5) {
        // The one-stroke pentagram.
        let pts: Vec<(f32, f32)> = (0..=5)
            .map(|i| {
                let a = a0 + (i * 2 % 5) as f32 * TAU / 5.0;
                (a.cos(), a.sin())
            })
            .collect();
        vec![poly(&pts, 6)]
    } else {
        let inner = rng.gen_range(0.35..0.5);
        let c: Vec<(f32, f32)> = (0..10)
            .map(|i| {
                let r = if i % 2 == 0 { 1.0 } else { inner };
                let a = a0 + i as f32 * PI / 5.0;
                (r * a.cos(), r * a.sin())
            })
            .collect();
        closed(&c, rng)
    }
}

fn zigzag(rng: &mut impl Rng) -> Vec<Path> {
    let teeth = rng.gen_range(3..8);
    let amp = rng.gen_range(0.25..0.6);
    let pts: Vec<(f32, f32)> = (0..=teeth * 2)
        .map(|i| {
            let x = -1.0 + 2.0 * i as f32 / (teeth * 2) as f32;
            (x, if i % 2 == 0 { amp } else { -amp })
        })
        .collect();
    vec![poly(&pts, 3)]
}

fn spiral(rng: &mut impl Rng) -> Vec<Path> {
    let turns = rng.gen_range(1.5..3.0);
    let a0 = rng.gen_range(0.0..TAU);
    let dir = if rng.gen_bool(0.5) { 1.0 } else { -1.0 };
    let n = (turns * 24.0) as usize;
    let path = (0..=n)
        .map(|i| {
            let t = i as f32 / n as f32;
            let a = a0 + dir * t * turns * TAU;
            (t * a.cos(), t * a.sin())
        })
        .collect();
    vec![path]
}

fn house(rng: &mut impl Rng) -> Vec<Path> {
    let roof = rng.gen_range(-1.0..-0.5);
    let eave = rng.gen_range(-0.3..0.05);
    let w = rng.gen_range(0.6..0.9);
    let over = rng.gen_range(0.0..0.25);
    let mut strokes = vec![poly(&[(-w, eave), (-w, 1.0), (w, 1.0), (w, eave)], 6)];
    strokes.push(poly(
        &[
            (-w - over, eave + 0.05),
            (0.0, roof),
            (w + over, eave + 0.05),
        ],
        6,
    ));
    if rng.gen_bool(0.5) {
        strokes.push(poly(&[(-w, eave), (w, eave)], 8));
    }
    if rng.gen_bool(0.6) {
        let x = rng.gen_range(-0.4..0.2) * w;
        strokes.push(poly(
            &[(x, 1.0), (x, 0.45), (x + 0.3, 0.45), (x + 0.3, 1.0)],
            3,
        ));
    }
    if rng.gen_bool(0.3) {
        // A window.
        let (x, y, d) = (
            rng.gen_range(-0.6..0.2) * w,
            rng.gen_range(0.05..0.3) + eave,
            0.25,
        );
        strokes.extend(closed(
            &[(x, y), (x + d, y), (x + d, y + d), (x, y + d)],
            rng,
        ));
    }
    if rng.gen_bool(0.2) {
        // A chimney on the roof's slope.
        let x = rng.gen_range(0.3..0.6) * w;
        let y = roof + (eave - roof) * x / w;
        strokes.push(poly(
            &[
                (x, y),
                (x, roof - 0.1),
                (x + 0.2, roof - 0.1),
                (x + 0.2, y + 0.1),
            ],
            3,
        ));
    }
    strokes
}

fn smiley(rng: &mut impl Rng) -> Vec<Path> {
    let a0 = rng.gen_range(0.0..TAU);
    let mut strokes = vec![arc(
        0.0,
        0.0,
        1.0,
        rng.gen_range(0.85..1.0),
        a0,
        TAU + 0.2,
        36,
    )];
    let ey = rng.gen_range(-0.45..-0.2);
    let ex = rng.gen_range(0.25..0.45);
    let big_eyes = rng.gen_bool(0.4);
    for x in [-ex, ex] {
        if big_eyes {
            strokes.push(arc(x, ey, 0.1, 0.12, 0.0, TAU, 8));
        } else {
            strokes.push(vec![(x, ey), (x, ey + 0.05)]);
        }
    }
    let w = rng.gen_range(0.4..0.6);
    strokes.push(arc(
        0.0,
        0.15,
        w,
        rng.gen_range(0.25..0.45),
        0.2,
        PI - 0.4,
        12,
    ));
    strokes
}

fn arrow(rng: &mut impl Rng) -> Vec<Path> {
    let head = rng.gen_range(0.3..0.65);
    let spread = rng.gen_range(0.25..0.55);
    let tail = rng.gen_range(-1.0..-0.3);
    let shaft = poly(&[(tail, 0.0), (1.0, 0.0)], 10);
    let mut strokes = match rng.gen_range(0..3) {
        0 => {
            let v = poly(
                &[(1.0 - head, -spread), (1.0, 0.0), (1.0 - head, spread)],
                4,
            );
            vec![shaft, v]
        }
        1 => {
            // Shaft and head in one stroke.
            let mut one = shaft;
            one.extend(poly(&[(1.0, 0.0), (1.0 - head, -spread)], 4));
            vec![one, poly(&[(1.0, 0.0), (1.0 - head, spread)], 4)]
        }
        _ => {
            // A closed triangular head on a shaft that stops at its base.
            let shaft = poly(&[(tail, 0.0), (1.0 - head, 0.0)], 10);
            let mut s = vec![shaft];
            s.extend(closed(
                &[(1.0, 0.0), (1.0 - head, spread), (1.0 - head, -spread)],
                rng,
            ));
            s
        }
    };
    if rng.gen_bool(0.2) {
        // Fletching at the tail.
        let f = head * 0.6;
        strokes.push(poly(&[(tail + f, -spread * 0.7), (tail, 0.0)], 3));
        strokes.push(poly(&[(tail + f, spread * 0.7), (tail, 0.0)], 3));
    }
    strokes
}

fn cloud(rng: &mut impl Rng) -> Vec<Path> {
    // Bumps (outward semicircles) around an ellipse.
    let bumps = rng.gen_range(5..9);
    let ry = rng.gen_range(0.5..0.7);
    let mut path = Vec::new();
    for b in 0..bumps {
        let a = TAU * b as f32 / bumps as f32;
        let a1 = TAU * (b + 1) as f32 / bumps as f32;
        let (p0, p1) = ((a.cos(), ry * a.sin()), (a1.cos(), ry * a1.sin()));
        let (cx, cy) = ((p0.0 + p1.0) / 2.0, (p0.1 + p1.1) / 2.0);
        let r = ((p1.0 - p0.0).hypot(p1.1 - p0.1)) / 2.0;
        let start = (p0.1 - cy).atan2(p0.0 - cx);
        // Bulge outward: sweep from p0 to p1 through the side away from the cloud's centre.
        let up = (cx + r * (start + PI / 2.0).cos()).hypot(cy + r * (start + PI / 2.0).sin());
        let down = (cx + r * (start - PI / 2.0).cos()).hypot(cy + r * (start - PI / 2.0).sin());
        let sweep = if up > down { PI } else { -PI };
        path.extend(arc(cx, cy, r, r, start, sweep, 8));
    }
    vec![path]
}

fn heart(rng: &mut impl Rng) -> Vec<Path> {
    let n = 40;
    let a0 = rng.gen_range(0.0..TAU);
    let depth = rng.gen_range(0.8..1.2);
    let path = (0..=n)
        .map(|i| {
            let t = a0 + TAU * i as f32 / n as f32;
            let x = 16.0 * t.sin().powi(3) / 16.0;
            let y = -(13.0 * t.cos()
                - 5.0 * (2.0 * t).cos() * depth
                - 2.0 * (3.0 * t).cos()
                - (4.0 * t).cos())
                / 16.0;
            (x, y)
        })
        .collect();
    vec![path]
}

fn lightning(rng: &mut impl Rng) -> Vec<Path> {
    let w = rng.gen_range(0.3..0.6);
    let mid = rng.gen_range(-0.2..0.2);
    let pts = [
        (0.3 + w * 0.5, -1.0),
        (-w, mid),
        (w, mid),
        (-0.3 - w * 0.5, 1.0),
    ];
    if rng.gen_bool(0.4) {
        // The outlined bolt.
        let o = 0.25;
        let outline = [
            pts[0],
            pts[1],
            (pts[2].0 - o, pts[2].1),
            pts[3],
            (pts[2].0 + o * 0.5, pts[2].1 - o * 0.4),
            (pts[1].0 + o * 1.5, pts[1].1 - o * 0.4),
            (pts[0].0 + o, pts[0].1),
        ];
        vec![poly(&outline, 5)]
    } else {
        vec![poly(&pts, 8)]
    }
}
