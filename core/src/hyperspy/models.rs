//! HyperSpy's models (`s.models`: fitted components and their parameter maps), stored in
//! both of its formats as `Analysis/models/<name>` groups whose `_signal` attribute names
//! the group of the signal they were fitted to. emio does not read them yet; this module
//! makes sure a reader says so instead of leaving them behind without a word.

use serde_json::Value;

use crate::dataset::Dataset;
use crate::hyperspy::tree::{join, Member, TreeSource};

/// Where HyperSpy stores the models fitted to its signals.
pub const MODELS: &str = "/Analysis/models";

/// Warn each signal (`datasets[i]`, stored in group `groups[i]`, e.g.
/// `/Experiments/<title>`) of `src` that the file holds models for: those whose `_signal`
/// attribute names its group, and those with none (rsciio returns them on their own),
/// which concern every signal. A store whose models cannot be listed warns of nothing.
pub fn warn_unread(src: &dyn TreeSource, groups: &[String], datasets: &mut [Dataset]) {
    let models = src.members(MODELS).unwrap_or_default();
    for (name, _) in models.iter().filter(|(_, m)| *m == Member::Group) {
        let node = join(MODELS, name);
        let owner = src
            .attrs(&node)
            .ok()
            .and_then(|a| a.get("_signal").and_then(Value::as_str).map(str::to_string));
        for (group, ds) in groups.iter().zip(datasets.iter_mut()) {
            if owner.as_deref().is_none_or(|o| o == group) {
                ds.warn(format!(
                    "the model {name:?} ({node}) fitted to this signal is not read: emio \
                     neither returns HyperSpy models nor writes them to its outputs"
                ));
            }
        }
    }
}
