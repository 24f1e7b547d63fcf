//! The window's panels, one file each. A panel reads a view of the app and
//! returns [`UiCommand`](super::UiCommand)s; none mutates the app.

pub mod anomaly_table;
pub mod overview;
pub mod plot_panel;
pub mod settings;
pub mod side_panel;
pub mod top_bar;
