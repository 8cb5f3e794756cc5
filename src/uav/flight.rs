//! The simulated vehicle: a point-mass kinematic model stepped at 50 Hz, waypoint following,
//! built-in missions and the failsafes real autopilots have.
//!
//! Position is in metres east (`x`) and north (`y`) of the fleet origin, altitude above home.
//! Each step the vehicle steers its velocity toward the target (speed capped at the cruise
//! speed and slowed near the target, acceleration capped), climbs or sinks at most
//! [`CLIMB`] m/s, and drains its battery by a hover cost plus a cost per m/s.
//!
//! Failsafes ([`Vehicle::link_check`]): with the link lost for `hold_after` the vehicle holds
//! where it is; lost for `rtl_after` it returns to launch. A link that comes back during the
//! hold resumes what it was doing; once returning, it keeps returning (as PX4 and ArduPilot
//! do, until told otherwise). Battery under [`LOW_BATTERY`] % → return to launch; under
//! [`CRITICAL_BATTERY`] % → land where it is.

use std::f64::consts::PI;
use std::time::Duration;

/// The built-in missions.
pub const MISSIONS: &[&str] = &["survey", "orbit", "formation"];
/// Cruise speed, m/s.
pub const CRUISE: f64 = 12.0;
/// Horizontal acceleration limit, m/s².
pub const ACCEL: f64 = 6.0;
/// Climb/sink rate limit, m/s.
pub const CLIMB: f64 = 4.0;
/// A waypoint is reached within this distance, m.
pub const REACHED: f64 = 2.0;
/// Battery percent under which the vehicle returns to launch.
pub const LOW_BATTERY: f64 = 20.0;
/// Battery percent under which it lands where it is.
pub const CRITICAL_BATTERY: f64 = 5.0;
/// Altitude of a return to launch, m.
pub const RTL_ALT: f64 = 25.0;
/// Hover cost, percent per second.
const DRAIN_HOVER: f64 = 0.02;
/// Cost per m/s, percent per second.
const DRAIN_SPEED: f64 = 0.002;

/// A waypoint: metres east, north, altitude.
pub type Waypoint = (f64, f64, f64);

/// Flight mode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// On the ground.
    Landed,
    /// Following a mission.
    Mission,
    /// Flying to one point, then holding there.
    Goto,
    /// Holding position.
    Hold,
    /// Returning to launch.
    Rtl,
    /// Descending to land.
    Land,
}

impl Mode {
    /// Lower-case name.
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Landed => "landed",
            Mode::Mission => "mission",
            Mode::Goto => "goto",
            Mode::Hold => "hold",
            Mode::Rtl => "rtl",
            Mode::Land => "land",
        }
    }
}

/// The vehicle.
#[derive(Clone, Debug)]
pub struct Vehicle {
    /// East, m.
    pub x: f64,
    /// North, m.
    pub y: f64,
    /// Altitude above home, m.
    pub alt: f64,
    /// East speed, m/s.
    pub vx: f64,
    /// North speed, m/s.
    pub vy: f64,
    /// Climb rate, m/s.
    pub vz: f64,
    /// Heading, degrees.
    pub hdg: f64,
    /// Battery, percent.
    pub batt: f64,
    /// Mode.
    pub mode: Mode,
    /// Home, east.
    pub home_x: f64,
    /// Home, north.
    pub home_y: f64,
    /// Remaining waypoints (x, y, alt).
    pub waypoints: Vec<(f64, f64, f64)>,
    /// Whether the mission loops.
    pub looping: bool,
    next: usize,
    target: (f64, f64, f64),
    /// The mode a link-loss hold interrupted (resumed if the link comes back in time).
    failsafe_from: Option<Mode>,
    /// Why the last failsafe fired ("link lost", "low battery"), for the log.
    pub failsafe: Option<&'static str>,
}

impl Vehicle {
    /// A landed vehicle at home.
    pub fn new(home_x: f64, home_y: f64) -> Self {
        Vehicle {
            x: home_x,
            y: home_y,
            alt: 0.0,
            vx: 0.0,
            vy: 0.0,
            vz: 0.0,
            hdg: 0.0,
            batt: 100.0,
            mode: Mode::Landed,
            home_x,
            home_y,
            waypoints: Vec::new(),
            looping: false,
            next: 0,
            target: (home_x, home_y, 0.0),
            failsafe_from: None,
            failsafe: None,
        }
    }

    /// Starts a mission.
    pub fn fly(&mut self, waypoints: Vec<(f64, f64, f64)>, looping: bool) {
        if waypoints.is_empty() {
            return;
        }
        self.waypoints = waypoints;
        self.looping = looping;
        self.next = 0;
        self.target = self.waypoints[0];
        self.set_mode(Mode::Mission);
    }

    /// Flies to one point and holds there.
    pub fn goto(&mut self, x: f64, y: f64, alt: f64) {
        self.target = (x, y, alt);
        self.set_mode(Mode::Goto);
    }

    /// Returns to launch.
    pub fn rtl(&mut self) {
        if self.mode != Mode::Landed {
            self.set_mode(Mode::Rtl);
        }
    }

    /// Lands where it is.
    pub fn land(&mut self) {
        if self.mode != Mode::Landed {
            self.set_mode(Mode::Land);
        }
    }

    fn set_mode(&mut self, m: Mode) {
        self.mode = m;
        self.failsafe_from = None;
    }

    /// Applies the link-loss failsafe: `lost` is how long no authenticated record came.
    /// Returns a line for the log when the mode changed.
    pub fn link_check(
        &mut self,
        lost: Duration,
        hold_after: Duration,
        rtl_after: Duration,
    ) -> Option<String> {
        let airborne = !matches!(self.mode, Mode::Landed | Mode::Land | Mode::Rtl);
        if lost >= rtl_after && (airborne || self.failsafe_from.is_some()) {
            self.set_mode(Mode::Rtl);
            self.failsafe = Some("link lost");
            return Some(format!(
                "failsafe: link lost for {:.1} s: returning to launch",
                lost.as_secs_f64()
            ));
        }
        if lost >= hold_after && airborne && self.failsafe_from.is_none() {
            self.failsafe_from = Some(self.mode);
            self.mode = Mode::Hold;
            self.target = (self.x, self.y, self.alt);
            self.failsafe = Some("link lost");
            return Some(format!(
                "failsafe: link lost for {:.1} s: holding",
                lost.as_secs_f64()
            ));
        }
        if lost < hold_after
            && let Some(prev) = self.failsafe_from.take()
        {
            self.mode = prev;
            if prev == Mode::Mission && self.next < self.waypoints.len() {
                self.target = self.waypoints[self.next];
            }
            self.failsafe = None;
            return Some(format!("link back: resuming {}", prev.as_str()));
        }
        None
    }

    /// Whether the vehicle is in a link-loss hold.
    pub fn in_failsafe_hold(&self) -> bool {
        self.failsafe_from.is_some()
    }

    /// Advances the model by `dt` seconds; returns a line for the log on a mode change.
    pub fn step(&mut self, dt: f64) -> Option<String> {
        let mut event = None;
        if self.mode != Mode::Landed {
            if self.batt < CRITICAL_BATTERY && self.mode != Mode::Land {
                self.set_mode(Mode::Land);
                self.failsafe = Some("critical battery");
                event = Some(format!("failsafe: battery {:.0}%: landing", self.batt));
            } else if self.batt < LOW_BATTERY && !matches!(self.mode, Mode::Rtl | Mode::Land) {
                self.set_mode(Mode::Rtl);
                self.failsafe = Some("low battery");
                event = Some(format!(
                    "failsafe: battery {:.0}%: returning to launch",
                    self.batt
                ));
            }
        }
        let (tx, ty, talt) = match self.mode {
            Mode::Landed => (self.x, self.y, 0.0),
            Mode::Rtl => {
                let d = (self.home_x - self.x).hypot(self.home_y - self.y);
                if d < REACHED {
                    (self.home_x, self.home_y, 0.0)
                } else {
                    (self.home_x, self.home_y, self.alt.max(RTL_ALT))
                }
            }
            Mode::Land => (self.x, self.y, 0.0),
            Mode::Hold | Mode::Goto | Mode::Mission => self.target,
        };
        // Horizontal: climb first when on the ground.
        let (dx, dy) = (tx - self.x, ty - self.y);
        let dist = dx.hypot(dy);
        let can_move = self.alt > 2.0 || talt <= self.alt;
        let want = if can_move && dist > 0.01 {
            let speed = CRUISE.min(dist * 0.8);
            (dx / dist * speed, dy / dist * speed)
        } else {
            (0.0, 0.0)
        };
        let (ax, ay) = (want.0 - self.vx, want.1 - self.vy);
        let a = ax.hypot(ay);
        let max_dv = ACCEL * dt;
        let k = if a > max_dv { max_dv / a } else { 1.0 };
        self.vx += ax * k;
        self.vy += ay * k;
        self.x += self.vx * dt;
        self.y += self.vy * dt;
        let dz = talt - self.alt;
        self.vz = dz.clamp(-CLIMB, CLIMB).clamp(-dz.abs() / dt, dz.abs() / dt);
        self.alt = (self.alt + self.vz * dt).max(0.0);
        let speed = self.vx.hypot(self.vy);
        if speed > 0.5 {
            self.hdg = (self.vx.atan2(self.vy) * 180.0 / PI).rem_euclid(360.0);
        }
        if self.mode != Mode::Landed {
            self.batt = (self.batt - (DRAIN_HOVER + DRAIN_SPEED * speed) * dt).max(0.0);
        }
        match self.mode {
            Mode::Mission if dist < REACHED && (talt - self.alt).abs() < 1.0 => {
                self.next += 1;
                if self.next >= self.waypoints.len() {
                    if self.looping {
                        self.next = 0;
                    } else {
                        self.mode = Mode::Hold;
                        self.target = (self.x, self.y, self.alt);
                        return event.or(Some("mission complete: holding".into()));
                    }
                }
                self.target = self.waypoints[self.next];
            }
            Mode::Rtl | Mode::Land if self.alt <= 0.05 && talt == 0.0 => {
                self.mode = Mode::Landed;
                self.vx = 0.0;
                self.vy = 0.0;
                return event.or(Some("landed".into()));
            }
            _ => {}
        }
        event
    }
}

/// Drone `slot`'s home: a row along the origin's east axis, 8 m apart.
pub fn home(slot: u32) -> (f64, f64) {
    (f64::from(slot) * 8.0, 0.0)
}

/// Waypoints and looping of mission `name` for drone `slot` (0-based) of a fleet of `fleet`.
pub fn mission(name: &str, slot: u32, fleet: u32) -> Option<(Vec<Waypoint>, bool)> {
    let n = f64::from(fleet.max(1));
    let i = f64::from(slot.min(fleet.saturating_sub(1)));
    match name {
        "survey" => {
            // The 240 m square north of the row, cut into one strip per drone, mowed in legs.
            let w = 240.0 / n;
            let x0 = -60.0 + i * w;
            let legs = 4;
            let mut pts = Vec::new();
            for leg in 0..=legs {
                let x = x0 + w * f64::from(leg) / f64::from(legs);
                let (a, b) = if leg % 2 == 0 {
                    (30.0, 270.0)
                } else {
                    (270.0, 30.0)
                };
                pts.push((x, a, 30.0));
                pts.push((x, b, 30.0));
            }
            Some((pts, false))
        }
        "orbit" => {
            let phase = 2.0 * PI * i / n;
            let pts = (0..12)
                .map(|k| {
                    let t = phase + 2.0 * PI * f64::from(k) / 12.0;
                    (80.0 * t.sin(), 150.0 + 80.0 * t.cos(), 40.0)
                })
                .collect();
            Some((pts, true))
        }
        "formation" => {
            // A V behind a leader, flown between two points.
            let rank = ((i + 1.0) / 2.0).floor();
            let side = if slot.is_multiple_of(2) { 1.0 } else { -1.0 };
            let (ox, oy) = (side * rank * 12.0, -rank * 12.0);
            let pts = vec![(ox, 120.0 + oy, 35.0), (ox, 260.0 + oy, 35.0)];
            Some((pts, true))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fly_for(v: &mut Vehicle, secs: f64) {
        for _ in 0..(secs * 50.0) as usize {
            v.step(0.02);
        }
    }

    #[test]
    fn goto_reaches_the_point_then_rtl_lands_at_home() {
        let mut v = Vehicle::new(8.0, 0.0);
        v.goto(50.0, 60.0, 30.0);
        fly_for(&mut v, 30.0);
        assert!(
            (v.x - 50.0).abs() < 1.0 && (v.y - 60.0).abs() < 1.0,
            "{v:?}"
        );
        assert!((v.alt - 30.0).abs() < 0.5);
        v.rtl();
        fly_for(&mut v, 40.0);
        assert_eq!(v.mode, Mode::Landed);
        assert!((v.x - 8.0).abs() < 2.5 && v.y.abs() < 2.5, "{v:?}");
        assert!(v.batt < 100.0);
    }

    #[test]
    fn link_loss_holds_then_returns_and_a_quick_return_resumes() {
        let hold = Duration::from_secs(1);
        let rtl = Duration::from_secs(5);
        let mut v = Vehicle::new(0.0, 0.0);
        let (pts, looping) = mission("orbit", 0, 4).unwrap();
        v.fly(pts, looping);
        fly_for(&mut v, 5.0);
        assert!(
            v.link_check(Duration::from_millis(1500), hold, rtl)
                .is_some()
        );
        assert_eq!(v.mode, Mode::Hold);
        assert!(v.link_check(Duration::ZERO, hold, rtl).is_some());
        assert_eq!(v.mode, Mode::Mission, "link back during the hold resumes");
        v.link_check(Duration::from_millis(1500), hold, rtl);
        v.link_check(Duration::from_secs(6), hold, rtl);
        assert_eq!(v.mode, Mode::Rtl);
        assert!(v.link_check(Duration::ZERO, hold, rtl).is_none());
        assert_eq!(v.mode, Mode::Rtl, "a return to launch is not undone");
    }

    #[test]
    fn low_battery_returns_to_launch() {
        let mut v = Vehicle::new(0.0, 0.0);
        v.goto(0.0, 100.0, 20.0);
        fly_for(&mut v, 5.0);
        v.batt = LOW_BATTERY - 1.0;
        let ev = v.step(0.02);
        assert!(ev.unwrap().contains("battery"));
        assert_eq!(v.mode, Mode::Rtl);
    }

    #[test]
    fn every_mission_gives_waypoints_for_every_slot() {
        for m in MISSIONS {
            for n in [1, 6, 32] {
                for s in 0..n {
                    let (pts, _) = mission(m, s, n).unwrap();
                    assert!(!pts.is_empty());
                    assert!(pts.iter().all(|p| p.0.is_finite() && p.1.is_finite()));
                }
            }
        }
        assert!(mission("dance", 0, 1).is_none());
        assert!(
            mission("orbit", 7, 0).is_some(),
            "a zero fleet does not divide by zero"
        );
    }
}
