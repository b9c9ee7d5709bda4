//! The overview's charts, drawn on the server as SVG with plotters: lines over time and
//! horizontal stacked bars. Each chart is an image with a title for screen readers, sized by
//! the page's CSS, and works without script and on paper.

use plotters::prelude::*;
use plotters::style::RGBColor;

pub const GREEN: RGBColor = RGBColor(46, 125, 50);
pub const AMBER: RGBColor = RGBColor(178, 106, 0);
pub const RED: RGBColor = RGBColor(198, 40, 40);
pub const BLUE: RGBColor = RGBColor(21, 101, 192);
pub const GREY: RGBColor = RGBColor(97, 97, 97);
pub const PURPLE: RGBColor = RGBColor(106, 27, 154);
pub const TEAL: RGBColor = RGBColor(0, 121, 107);

const WIDTH: u32 = 640;
const HEIGHT: u32 = 300;
/// Label size: the charts are drawn about as wide as they are shown, so this reads as text.
const LABEL: u32 = 15;
const FONT: &str = "sans-serif";

/// One line of a chart over time.
pub struct Line {
    pub name: String,
    pub color: RGBColor,
    pub points: Vec<i64>,
}

/// One bar, made of stacked segments.
pub struct Bar {
    pub label: String,
    pub segments: Vec<(RGBColor, i64)>,
}

/// Marks the SVG as an image named `title`, sized by CSS.
fn accessible(svg: String, title: &str) -> String {
    let title = super::render::escape(title);
    match svg.find('>') {
        Some(end) if svg.starts_with("<svg") => format!(
            "<svg class=\"chart\" role=\"img\" aria-label=\"{title}\"{}><title>{title}</title>{}",
            &svg[4..end],
            &svg[end + 1..]
        ),
        _ => svg,
    }
}

/// Lines over `labels.len()` time buckets; `labels` name the buckets on the x axis.
pub fn lines(title: &str, labels: &[String], lines: &[Line]) -> String {
    let mut svg = String::new();
    let drawn = draw_lines(&mut svg, labels, lines);
    if let Err(e) = drawn {
        tracing::warn!(error = %e, chart = title, "a chart could not be drawn");
        return String::new();
    }
    accessible(svg, title)
}

type DrawResult = Result<(), Box<dyn std::error::Error>>;

fn draw_lines(svg: &mut String, labels: &[String], lines: &[Line]) -> DrawResult {
    let n = labels.len().max(2) as i64;
    let max = lines
        .iter()
        .flat_map(|l| l.points.iter().copied())
        .max()
        .unwrap_or(0)
        .max(4);
    let root = SVGBackend::with_string(svg, (WIDTH, HEIGHT)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .margin(10)
        .x_label_area_size(32)
        .y_label_area_size(48)
        .build_cartesian_2d(0..n - 1, 0..max + max / 10 + 1)?;
    let label_of = |x: &i64| labels.get(*x as usize).cloned().unwrap_or_default();
    chart
        .configure_mesh()
        .x_labels(8)
        .y_labels(6)
        .x_label_formatter(&label_of)
        .light_line_style(WHITE.mix(0.0))
        .label_style((FONT, LABEL))
        .draw()?;
    for line in lines {
        let color = line.color;
        chart
            .draw_series(LineSeries::new(
                line.points.iter().enumerate().map(|(x, y)| (x as i64, *y)),
                color.stroke_width(2),
            ))?
            .label(line.name.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 16, y)], color.stroke_width(3)));
    }
    if !lines.is_empty() {
        chart
            .configure_series_labels()
            .position(SeriesLabelPosition::UpperLeft)
            .label_font((FONT, LABEL))
            .background_style(WHITE.mix(0.85))
            .border_style(GREY)
            .draw()?;
    }
    root.present()?;
    Ok(())
}

/// Horizontal bars, one per `bars` entry, top to bottom, each with its total at its end; a
/// sentence instead when there is nothing to draw.
pub fn bars(title: &str, bars: &[Bar]) -> String {
    if bars.is_empty() {
        return "<p class=\"empty\">Nothing in this period.</p>".to_string();
    }
    let mut svg = String::new();
    if let Err(e) = draw_bars(&mut svg, bars) {
        tracing::warn!(error = %e, chart = title, "a chart could not be drawn");
        return String::new();
    }
    accessible(svg, title)
}

fn draw_bars(svg: &mut String, bars: &[Bar]) -> DrawResult {
    let rows = bars.len().max(1);
    let height = (48 + 32 * rows as u32).max(130);
    let max = bars
        .iter()
        .map(|b| b.segments.iter().map(|(_, n)| n).sum::<i64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let longest = bars.iter().map(|b| b.label.chars().count()).max().unwrap_or(4) as u32;
    let root = SVGBackend::with_string(svg, (WIDTH, height)).into_drawing_area();
    root.fill(&WHITE)?;
    let mut chart = ChartBuilder::on(&root)
        .margin(10)
        .x_label_area_size(24)
        .y_label_area_size((longest * 9 + 14).min(320))
        .build_cartesian_2d(0f64..(max as f64 * 1.15), 0f64..rows as f64)?;
    let label_of = |y: &f64| {
        // Labels sit at each bar's middle; the top bar is the first.
        let at = *y - 0.5;
        if (at - at.round()).abs() > 1e-6 || at < 0.0 {
            return String::new();
        }
        let index = rows - 1 - at.round() as usize;
        bars.get(index).map(|b| b.label.clone()).unwrap_or_default()
    };
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(rows * 2 + 1)
        .y_label_formatter(&label_of)
        .x_labels(6)
        // Counts are whole: a tick between two is left unlabelled.
        .x_label_formatter(&|x: &f64| {
            if (x - x.round()).abs() < 1e-9 {
                format!("{}", x.round() as i64)
            } else {
                String::new()
            }
        })
        .light_line_style(WHITE.mix(0.0))
        .label_style((FONT, LABEL))
        .draw()?;
    for (i, bar) in bars.iter().enumerate() {
        let y = (rows - 1 - i) as f64;
        let mut x = 0f64;
        for (color, n) in &bar.segments {
            let to = x + *n as f64;
            if *n > 0 {
                chart.draw_series(std::iter::once(Rectangle::new(
                    [(x, y + 0.2), (to, y + 0.8)],
                    color.filled(),
                )))?;
            }
            x = to;
        }
        chart.draw_series(std::iter::once(Text::new(
            format!(" {}", x as i64),
            (x, y + 0.62),
            (FONT, LABEL).into_font().color(&BLACK),
        )))?;
    }
    root.present()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_titled_svg_images() {
        let labels: Vec<String> = (0..24).map(|h| format!("{h:02}:00")).collect();
        let svg = lines(
            "Requests by risk",
            &labels,
            &[Line {
                name: "red <b>".into(),
                color: RED,
                points: (0..24).collect(),
            }],
        );
        assert!(
            svg.starts_with("<svg class=\"chart\" role=\"img\" aria-label=\"Requests by risk\""),
            "{svg}"
        );
        assert!(svg.contains("<title>Requests by risk</title>"));
        assert!(
            svg.contains("red &lt;b&gt;"),
            "legend text is escaped by the backend"
        );
        let svg = bars(
            "Blocks by rule",
            &[Bar {
                label: "red.shell".into(),
                segments: vec![(RED, 7)],
            }],
        );
        assert!(svg.contains("red.shell"));
        assert!(svg.contains("<rect"));
    }
}
