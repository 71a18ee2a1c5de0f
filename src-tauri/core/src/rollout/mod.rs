//! The rollout loop: invitations mailed from the administrator's own mailbox, each user's result
//! mailed back, and the status of every account on the administrator's screen.
//!
//! Why: each user signs in on their own computer, so without a way back the administrator's list
//! says "not signed in" for everyone forever, and a rollout of 1,000 people is tracked by hand. The
//! mailboxes being set up are themselves the channel: the administrator's mailbox (signed in on
//! their computer like any user's, step 4) sends the invitations over SMTP with XOAUTH2 and
//! receives the users' receipts over IMAP; a user's verified mailbox sends its one receipt.
//!
//! - [`settings`]: which mailbox sends and receives, and the mails' language;
//! - [`outbox`]: the durable send queue in SQLite (queued, sending, sent, deferred, failed,
//!   unsure), which never mails a person twice unless the administrator asks to resend;
//! - [`pacing`]: Exchange Online's per-mailbox sending limits, counted from the queue itself so
//!   that they hold across a quit or a crash;
//! - [`message`]: the invitation and reminder mails (text, link, the `.exoinvite` attached);
//! - [`send`]: the sender — one SMTP session at a time, paced, resumable, cancellable;
//! - [`status`]: each account's rollout status for step 2 and the CLI.
//! - [`receipt`]: the receipt mail (text and JSON attached) and the reading of what comes back
//!   (receipts, RFC 3464 delivery failure notices, anything else);
//! - [`inbox`]: the administrator reads receipts and bounces from the rollout mailbox over IMAP,
//!   records them and moves them to a folder of their own;
//! - [`receipt_send`]: the user's computer sends its receipts, each once, over its own SMTP;
//! - [`background`]: while the wizard's window is open, the receipts read and the deferred mails
//!   retried by timer.
//!
//! Tokens: the sender takes the administrator's access token from [`crate::auth::Auth`] and
//! writes it only to an [`crate::audience::AllowedEndpoint`] — the same rule as the mail check.
//! Nothing of this module stores or logs a token; the queue keeps addresses, states and the
//! servers' replies.

pub mod background;
pub mod inbox;
pub mod message;
pub mod outbox;
pub mod pacing;
pub mod receipt;
pub mod receipt_send;
pub mod send;
pub mod settings;
pub mod status;

pub use background::RolloutUpdated;
pub use inbox::{read_receipts, ReadSummary};
pub use outbox::{MailKind, OutboxState, Queued, Recipients, SendScope};
pub use pacing::Pacing;
pub use receipt::{Incoming, Receipt, ReceiptEvent};
pub use receipt_send::{plan_receipts, send_receipt};
pub use send::{send_queue, SendOptions, SendProgress, SendSummary};
pub use settings::{MailLanguage, RolloutSettings};
