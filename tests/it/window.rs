//! A real window: the binary under Xvfb opens, stays up, draws the sample
//! data and, once the forecast worker has finished, the expected bands with
//! anomalies marked in red (checked on screenshots of the X screen).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Kills the child when the test ends, pass or fail.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_xvfb() -> (KillOnDrop, String) {
    let mut child = Command::new("Xvfb")
        .args([
            "-displayfd",
            "1",
            "-screen",
            "0",
            "1280x800x24",
            "-nolisten",
            "tcp",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("Xvfb must be installed (tests/run.sh installs it)");
    let stdout = child.stdout.take().expect("Xvfb stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("Xvfb prints its display number");
    (KillOnDrop(child), format!(":{}", line.trim()))
}

fn window_ids(display: &str, name: &str) -> String {
    let output = Command::new("xdotool")
        .args(["search", "--name", name])
        .env("DISPLAY", display)
        .output()
        .expect("xdotool must be installed (tests/run.sh installs it)");
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

#[test]
fn window_opens_and_draws_the_sample_data() {
    let (_xvfb, display) = start_xvfb();
    let home = tempfile::tempdir().unwrap();
    let runtime = home.path().join("runtime");
    std::fs::create_dir_all(&runtime).unwrap();
    let log = std::fs::File::create(home.path().join("app.log")).unwrap();
    let mut app = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_pulsewatch"))
            .current_dir(home.path())
            .env("DISPLAY", &display)
            .env_remove("WAYLAND_DISPLAY")
            .env("HOME", home.path())
            .env("XDG_RUNTIME_DIR", &runtime)
            .env("XDG_CONFIG_HOME", home.path().join("config"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    let app_log = || std::fs::read_to_string(home.path().join("app.log")).unwrap_or_default();

    let started = Instant::now();
    while window_ids(&display, "^PulseWatch$").is_empty() {
        if let Some(status) = app.0.try_wait().unwrap() {
            panic!(
                "pulsewatch exited with {status} before its window appeared:\n{}",
                app_log()
            );
        }
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "no PulseWatch window after 90 s:\n{}",
            app_log()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    // Let it render a few frames, then read the screen.
    let shot = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("window.png");
    let mut colours = 0;
    let mut anomaly_pixels = 0;
    for _ in 0..60 {
        std::thread::sleep(Duration::from_millis(500));
        let grabbed = Command::new("import")
            .args(["-window", "root", shot.to_str().unwrap()])
            .env("DISPLAY", &display)
            .status()
            .expect("imagemagick's import must be installed (tests/run.sh installs it)");
        assert!(grabbed.success());
        let info = Command::new("convert")
            .args([shot.to_str().unwrap(), "-format", "%k", "info:"])
            .output()
            .unwrap();
        colours = String::from_utf8_lossy(&info.stdout)
            .trim()
            .parse()
            .unwrap_or(0);
        // Pixels in the anomaly red (theme::ANOMALY, #FF3B30): there are
        // none until the forecast has landed and its markers are drawn.
        let red = Command::new("convert")
            .args([
                shot.to_str().unwrap(),
                "-fill",
                "black",
                "+opaque",
                "#FF3B30",
                "-fill",
                "white",
                "-opaque",
                "#FF3B30",
                "-format",
                "%[fx:round(mean*w*h)]",
                "info:",
            ])
            .output()
            .unwrap();
        anomaly_pixels = String::from_utf8_lossy(&red.stdout)
            .trim()
            .parse()
            .unwrap_or(0);
        // Text, three coloured series, grid lines: thousands of colours once
        // drawn; and the anomaly markers once the forecast is in.
        if colours > 500 && anomaly_pixels > 50 {
            break;
        }
    }
    assert!(
        anomaly_pixels > 50,
        "no anomaly markers after 30 s ({anomaly_pixels} red pixels):\n{}",
        app_log()
    );
    assert!(
        colours > 500,
        "the window looks empty ({colours} colours):\n{}",
        app_log()
    );
    assert!(
        app.0.try_wait().unwrap().is_none(),
        "pulsewatch died:\n{}",
        app_log()
    );
}
