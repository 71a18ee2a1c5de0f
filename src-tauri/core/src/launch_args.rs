//! Which command lines open the wizard rather than a subcommand, and what the OS handed over.
//!
//! Besides none at all, the OS launches the app with one argument when it hands something over:
//! a deep link (an OAuth redirect or an invitation link), or — double-click on an invitation
//! file — the file, as a path or as a `file://` URL (the desktop entry's `%u`). None of these may
//! reach clap, which would take them for an unknown subcommand.
//!
//! Pure functions over strings, here in the core rather than in the app's `launch.rs` so that both
//! binaries share them and the fuzz target `launch_args` can reach them without linking Tauri.

use std::path::{Path, PathBuf};

use crate::identity::DEEP_LINK_SCHEME;
use crate::invite::FILE_EXTENSION;

/// Something the OS handed to the app on its command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handover {
    /// A URL of the app's scheme: an OAuth redirect or an invitation link.
    DeepLink(String),
    /// An invitation file (`*.exoinvite`), given as a path or a `file://` URL.
    InvitationFile(PathBuf),
}

impl Handover {
    /// What `arg` is, if the OS could have handed it over; `None` for anything else (a
    /// subcommand, an option, another file). Relative paths are resolved against `cwd` (the
    /// directory of the process that received them).
    pub fn classify(arg: &str, cwd: Option<&Path>) -> Option<Handover> {
        let lower = arg.to_ascii_lowercase();
        if lower.starts_with(&format!("{DEEP_LINK_SCHEME}:")) {
            return Some(Handover::DeepLink(arg.to_owned()));
        }
        let path = match url::Url::parse(arg) {
            Ok(url) if url.scheme() == "file" => url.to_file_path().ok()?,
            // Another scheme (a one-letter one is a Windows drive: a path).
            Ok(url) if url.scheme().len() > 1 => return None,
            _ => PathBuf::from(arg),
        };
        let is_invitation =
            path.extension().and_then(|e| e.to_str()).is_some_and(|e| e.eq_ignore_ascii_case(FILE_EXTENSION));
        if !is_invitation || arg.starts_with('-') {
            return None;
        }
        Some(Handover::InvitationFile(match cwd {
            Some(dir) if path.is_relative() => dir.join(path),
            _ => path,
        }))
    }
}

/// A command line that opens the wizard: the data directory it names, if any, and what the OS
/// handed over, if anything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GuiLaunch {
    pub data_dir: Option<PathBuf>,
    pub handover: Option<Handover>,
}

/// `Some` when `args` (with the program name first) open the wizard: nothing, or only
/// `--data-dir DIR`, and at most one [`Handover`] argument. Everything else is the CLI's.
pub fn gui_launch(args: &[String], cwd: Option<&Path>) -> Option<GuiLaunch> {
    let mut launch = GuiLaunch::default();
    let mut rest = args.iter().skip(1);
    while let Some(arg) = rest.next() {
        if arg == "--data-dir" {
            launch.data_dir = Some(PathBuf::from(rest.next()?));
        } else if let Some(dir) = arg.strip_prefix("--data-dir=") {
            launch.data_dir = Some(PathBuf::from(dir));
        } else if launch.handover.is_none() {
            launch.handover = Some(Handover::classify(arg, cwd)?);
        } else {
            return None;
        }
    }
    Some(launch)
}

/// True when these arguments open the wizard (see [`gui_launch`]).
pub fn is_gui_launch(args: &[String]) -> bool {
    gui_launch(args, None).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        std::iter::once("exo-setup").chain(a.iter().copied()).map(String::from).collect()
    }

    fn launch(a: &[&str]) -> Option<GuiLaunch> {
        gui_launch(&args(a), Some(Path::new("/home/u")))
    }

    #[test]
    fn links_and_invitation_files_open_the_wizard_subcommands_do_not() {
        let link = format!("{DEEP_LINK_SCHEME}://invite?v=1&p=e30&c=x");
        let callback = format!("{DEEP_LINK_SCHEME}://oauth2/callback?code=x&state=y");
        assert_eq!(launch(&[]), Some(GuiLaunch::default()));
        assert_eq!(launch(&[&link]).unwrap().handover, Some(Handover::DeepLink(link.clone())));
        assert_eq!(launch(&[&callback]).unwrap().handover, Some(Handover::DeepLink(callback.clone())));
        // A file double-clicked in a file manager: a path, or a file:// URL from the desktop entry's %u.
        assert_eq!(
            launch(&["/tmp/taro@contoso.example.exoinvite"]).unwrap().handover,
            Some(Handover::InvitationFile("/tmp/taro@contoso.example.exoinvite".into()))
        );
        assert_eq!(
            launch(&["file:///tmp/taro%40contoso.example.EXOINVITE"]).unwrap().handover,
            Some(Handover::InvitationFile("/tmp/taro@contoso.example.EXOINVITE".into()))
        );
        // Relative paths are the caller's: resolved against its working directory.
        assert_eq!(
            launch(&["Downloads/a.exoinvite"]).unwrap().handover,
            Some(Handover::InvitationFile("/home/u/Downloads/a.exoinvite".into()))
        );
        let with_dir = launch(&["--data-dir", "/tmp/profile", &link]).unwrap();
        assert_eq!(with_dir.data_dir, Some(PathBuf::from("/tmp/profile")));
        assert_eq!(with_dir.handover, Some(Handover::DeepLink(link.clone())));
        assert_eq!(launch(&["--data-dir=/tmp/p"]).unwrap().data_dir, Some(PathBuf::from("/tmp/p")));

        // Subcommands, options, other files: the CLI's (clap explains them).
        for cli in [
            &["open", "/tmp/a.exoinvite"][..],
            &["invite", "--all"],
            &["status"],
            &["--help"],
            &["--version"],
            &["a.csv"],
            &["exoinvite"],
            &["--data-dir"],
            &[&link, &link],
            &["/tmp/a.exoinvite", "status"],
            &["https://example.com/a.exoinvite"],
        ] {
            assert_eq!(launch(cli), None, "{cli:?}");
            assert!(!is_gui_launch(&args(cli)), "{cli:?}");
        }
        assert!(is_gui_launch(&args(&[])));
        assert!(is_gui_launch(&args(&[&link])));
        assert!(is_gui_launch(&args(&["x.exoinvite"])));
    }
}
