//! A chart as a flat list of shapes in pixel coordinates, rendered to SVG text here and to PNG by
//! `raster`: both outputs come from one layout, so they show the same thing.

use std::fmt::Write as _;

/// An sRGB colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rgb(pub u8, pub u8, pub u8);

impl Rgb {
    pub const WHITE: Rgb = Rgb(255, 255, 255);
    pub const BLACK: Rgb = Rgb(0, 0, 0);
    pub const GREY: Rgb = Rgb(128, 128, 128);
    pub const LIGHT: Rgb = Rgb(225, 225, 225);

    /// Linear blend: `t = 0` gives `self`, `t = 1` gives `other` (t clamped to [0, 1]).
    pub fn mix(self, other: Rgb, t: f64) -> Rgb {
        let t = if t.is_finite() {
            t.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let m = |a: u8, b: u8| (f64::from(a) + (f64::from(b) - f64::from(a)) * t).round() as u8;
        Rgb(m(self.0, other.0), m(self.1, other.1), m(self.2, other.2))
    }

    /// Perceived brightness in [0, 255], to pick a readable text colour on a fill.
    pub fn luma(self) -> f64 {
        0.299 * f64::from(self.0) + 0.587 * f64::from(self.1) + 0.114 * f64::from(self.2)
    }

    fn hex(self) -> String {
        format!("#{:02x}{:02x}{:02x}", self.0, self.1, self.2)
    }
}

/// Where a text's anchor point sits along the text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Anchor {
    Start,
    Middle,
    End,
}

/// One shape. Coordinates are pixels, y down; a text's `(x, y)` is on its baseline.
#[derive(Clone, Debug, PartialEq)]
pub enum Item {
    Rect {
        x: f64,
        y: f64,
        w: f64,
        h: f64,
        fill: Rgb,
    },
    Text(Label),
    Polyline {
        points: Vec<(f64, f64)>,
        stroke: Rgb,
        width: f64,
    },
}

/// A line of text. `up`: rotated 90° counter-clockwise, reading bottom to top.
#[derive(Clone, Debug, PartialEq)]
pub struct Label {
    pub x: f64,
    pub y: f64,
    pub size: f64,
    pub anchor: Anchor,
    pub up: bool,
    pub fill: Rgb,
    pub text: String,
}

/// A white canvas of `width × height` pixels and the shapes drawn on it, in painting order.
#[derive(Clone, Debug, PartialEq)]
pub struct Scene {
    pub width: u32,
    pub height: u32,
    pub items: Vec<Item>,
}

/// Character advance of the monospace text, in units of the font size (both renderers use it for
/// layout; the PNG font is 6 px wide at size 10).
pub const CHAR_WIDTH: f64 = 0.6;

impl Scene {
    /// An empty white scene.
    pub fn new(width: u32, height: u32) -> Self {
        Self {
            width,
            height,
            items: Vec::new(),
        }
    }

    /// Adds a filled rectangle.
    pub fn rect(&mut self, x: f64, y: f64, w: f64, h: f64, fill: Rgb) {
        self.items.push(Item::Rect { x, y, w, h, fill });
    }

    /// Adds horizontal text.
    pub fn text(&mut self, x: f64, y: f64, size: f64, anchor: Anchor, fill: Rgb, text: &str) {
        self.items.push(Item::Text(Label {
            x,
            y,
            size,
            anchor,
            up: false,
            fill,
            text: text.to_string(),
        }));
    }

    /// Adds text reading bottom to top, its baseline on the vertical line through `x`.
    pub fn text_up(&mut self, x: f64, y: f64, size: f64, anchor: Anchor, fill: Rgb, text: &str) {
        self.items.push(Item::Text(Label {
            x,
            y,
            size,
            anchor,
            up: true,
            fill,
            text: text.to_string(),
        }));
    }

    /// Adds a line through `points`.
    pub fn polyline(&mut self, points: Vec<(f64, f64)>, stroke: Rgb, width: f64) {
        self.items.push(Item::Polyline {
            points,
            stroke,
            width,
        });
    }

    /// The scene as a standalone SVG document.
    pub fn to_svg(&self) -> String {
        let mut s = String::new();
        let (w, h) = (self.width, self.height);
        // Writing to a String cannot fail.
        let _ = writeln!(
            s,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"{h}\" \
             viewBox=\"0 0 {w} {h}\" font-family=\"monospace\">\n\
             <rect x=\"0\" y=\"0\" width=\"{w}\" height=\"{h}\" fill=\"#ffffff\"/>"
        );
        for item in &self.items {
            let _ = match item {
                Item::Rect { x, y, w, h, fill } => writeln!(
                    s,
                    "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w:.1}\" height=\"{h:.1}\" fill=\"{}\"/>",
                    fill.hex()
                ),
                Item::Text(Label {
                    x,
                    y,
                    size,
                    anchor,
                    up,
                    fill,
                    text,
                }) => {
                    let anchor = match anchor {
                        Anchor::Start => "start",
                        Anchor::Middle => "middle",
                        Anchor::End => "end",
                    };
                    let rotate = if *up {
                        format!(" transform=\"rotate(-90 {x:.1} {y:.1})\"")
                    } else {
                        String::new()
                    };
                    writeln!(
                        s,
                        "<text x=\"{x:.1}\" y=\"{y:.1}\" font-size=\"{size:.1}\" \
                         text-anchor=\"{anchor}\" fill=\"{}\"{rotate}>{}</text>",
                        fill.hex(),
                        escape_xml(text)
                    )
                }
                Item::Polyline {
                    points,
                    stroke,
                    width,
                } => {
                    let pts: Vec<String> =
                        points.iter().map(|(x, y)| format!("{x:.1},{y:.1}")).collect();
                    writeln!(
                        s,
                        "<polyline points=\"{}\" fill=\"none\" stroke=\"{}\" stroke-width=\"{width:.1}\" \
                         stroke-linejoin=\"round\"/>",
                        pts.join(" "),
                        stroke.hex()
                    )
                }
            };
        }
        s.push_str("</svg>\n");
        s
    }
}

/// Escapes text for XML content and attribute values; drops the control characters XML 1.0
/// forbids, so any class name yields a well-formed document.
pub fn escape_xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for ch in s.chars() {
        match ch {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}
