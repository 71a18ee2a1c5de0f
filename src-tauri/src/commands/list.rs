// The one list of the app's IPC commands. `build.rs` includes this file to generate one
// permission per command; `gui.rs` registers exactly these handlers; `tests/command_list.rs`
// checks `capabilities/main.json` and `ui/src/lib/api.ts` against it, so a command added,
// renamed or removed in one place and not the others fails the test command.
//
// Plain comments and nothing but the macro: `include!` (build script, test) takes no inner
// doc comment, `use` or module item.

/// Calls the macro `$then` with every command name, in the order they are registered.
#[macro_export]
macro_rules! with_app_commands {
    ($then:ident) => {
        $then! {
            app_info,
            ui_ready,
            setup_overview,
            app_registration,
            save_exchange_online,
            set_server_enabled,
            list_accounts,
            find_account,
            add_account,
            update_account,
            delete_account,
            preview_csv_import,
            import_csv,
            export_csv,
            begin_admin_consent,
            begin_sign_in,
            cancel_flow,
            flow_snapshot,
            sign_out,
            check_account,
            create_invitations,
            save_invitation_files,
            save_invitations_csv,
            open_invitation_text,
            open_invitation_file,
            accept_invitation,
            discard_invitation,
            last_opened_invitation,
            managed_policy,
            begin_directory_sign_in,
            directory_signed_in,
            directory_sign_out,
            search_directory_groups,
            read_directory,
            cancel_directory_read,
            directory_diff,
            apply_directory,
            discard_directory,
            rollout_status,
            rollout_settings,
            set_rollout_sender,
            queue_invitations,
            queue_reminders,
            send_invitations,
            rollout_run,
            cancel_sending,
            read_receipts,
            export_rollout_csv,
            self_service_state,
            set_self_service,
            organization_invitation,
            begin_self_sign_in,
            create_support_bundle,
        }
    };
}
