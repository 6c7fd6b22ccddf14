//! `portcullis-console chat` as a person uses it: the real binary on a pseudo-terminal, against the dev
//! IdP, mcp-tools and the development model (each a real HTTP service on its own port), typing messages
//! and answers at the prompts, pressing Ctrl-C, leaving and coming back with `--resume`.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{Console, Stack, WAIT, sign_in_as};

/// The note id in "Saved note N: …".
fn saved_id(screen: &str) -> String {
    let after = screen.rsplit("Saved note ").next().expect("a saved note");
    after.split(':').next().expect("an id").trim().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chat_with_approvals_a_form_ctrl_c_and_resume() {
    let stack = Stack::start().await;
    let home = stack.home("chat");
    let env = stack.configured_env(&home);

    let console = Console::spawn(&["chat"], &env);
    sign_in_as(&console, "alice").await;
    let mut console = console;
    let banner = console.expect_next("you> ", WAIT).await;
    assert!(banner.contains("Signed in as Alice Smith"), "{banner}");
    assert!(banner.contains("Mode: manual"), "{banner}");

    // A write tool: the call is shown in full and asks y/n (no "always" for a tool that writes).
    console.type_line("add a note \"buy milk\"");
    let card = console.expect_next("approve? [y]es / [n]o ", WAIT).await;
    assert!(card.contains("server:    tools ("), "{card}");
    assert!(card.contains("tool:      add_note (writes)"), "{card}");
    assert!(card.contains("\"text\": \"buy milk\""), "{card}");
    console.type_line("y");
    let turn = console.expect_next("you> ", WAIT).await;
    assert!(turn.contains("✓ tools add_note:"), "{turn}");
    let id = saved_id(&turn);

    // A read-only tool offers "always": the second call runs without asking.
    console.type_line("give me a random number between 1 and 6");
    let card = console
        .expect_next("[a]lways for this tool in this conversation ", WAIT)
        .await;
    assert!(card.contains("get_random_number (read-only)"), "{card}");
    console.type_line("a");
    console
        .expect_next("✓ tools get_random_number:", WAIT)
        .await;
    console.expect_next("you> ", WAIT).await;
    console.type_line("another random number between 1 and 6 please");
    let turn = console.expect_next("you> ", WAIT).await;
    assert!(!turn.contains("approve?"), "{turn}");
    assert!(
        turn.contains("→ tools get_random_number: always allowed in this conversation"),
        "{turn}"
    );

    // `n`: declined, never called; the model hears it.
    console.type_line("/new");
    console.expect_next("A new conversation.", WAIT).await;
    console.type_line("give me a random number between 1 and 6");
    console.expect_next("approve? [y]es / [n]o ", WAIT).await;
    console.type_line("n");
    let turn = console.expect_next("you> ", WAIT).await;
    assert!(
        turn.contains("✗ tools get_random_number: Declined by the user."),
        "{turn}"
    );
    assert!(
        turn.contains("declined by the user, so I did not run it"),
        "the model hears it:\n{turn}"
    );

    // Destructive: approval (never "always"), then the server's confirmation form; decline keeps it.
    console.type_line(&format!("delete note {id}"));
    let card = console.expect_next("approve? [y]es / [n]o ", WAIT).await;
    assert!(card.contains("delete_note (destructive)"), "{card}");
    assert!(!card.contains("[a]lways"), "{card}");
    console.type_line("y");
    let form = console
        .expect_next("answer? [a]nswer / [d]ecline / [c]ancel ", WAIT)
        .await;
    assert!(form.contains("tools asks, during delete_note:"), "{form}");
    assert!(form.contains("buy milk"), "{form}");
    console.type_line("d");
    let turn = console.expect_next("you> ", WAIT).await;
    assert!(
        turn.contains(&format!("The user declined: note {id} was not deleted.")),
        "{turn}"
    );

    // Accept: the field is asked (a bad answer is asked again), then sent; the note is deleted.
    console.type_line(&format!("delete note {id}"));
    console.expect_next("approve? [y]es / [n]o ", WAIT).await;
    console.type_line("y");
    console
        .expect_next("answer? [a]nswer / [d]ecline / [c]ancel ", WAIT)
        .await;
    console.type_line("a");
    let field = console.expect_next("): ", WAIT).await;
    assert!(field.contains("Delete this note * (y/n"), "{field}");
    console.type_line("perhaps");
    console.expect_next("must be yes or no", WAIT).await;
    console.expect_next("): ", WAIT).await;
    console.type_line("y");
    console
        .expect_next("send? [s]end / [e]dit / [d]ecline / [c]ancel ", WAIT)
        .await;
    console.type_line("s");
    let turn = console.expect_next("you> ", WAIT).await;
    assert!(turn.contains(&format!("Deleted note {id}.")), "{turn}");

    // Ctrl-C at an approval stops the turn, not the program; the call is declined and never made.
    console.type_line("add a note \"never saved\"");
    console.expect_next("approve? [y]es / [n]o ", WAIT).await;
    console.interrupt();
    let turn = console.expect_next("you> ", WAIT).await;
    assert!(turn.contains("Stopped: you cancelled this turn"), "{turn}");
    assert!(
        turn.contains("✗ tools add_note: Cancelled by the user before it was decided"),
        "{turn}"
    );
    // The next message is accepted (nothing was left pending).
    console.type_line("list my notes");
    console.expect_next("approve? [y]es / [n]o ", WAIT).await;
    console.type_line("y");
    let turn = console.expect_next("you> ", WAIT).await;
    assert!(turn.contains("✓ tools list_notes:"), "{turn}");
    assert!(!turn.contains("never saved"), "{turn}");
    console.type_line("/quit");
    let (code, screen) = console.finish(WAIT).await;
    assert_eq!(code, 0, "{screen}");

    // The conversations are in a private SQLite file; --resume shows the newest and continues it.
    let mode = std::fs::metadata(home.join("conversations.db"))
        .expect("the conversation database")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let mut console = Console::spawn(&["chat", "--resume", "--mode", "auto"], &env);
    let resumed = console.expect_next("/help for commands", WAIT).await;
    console.expect_next("you> ", WAIT).await;
    assert!(resumed.contains("you> list my notes"), "{resumed}");
    assert!(resumed.contains("Mode: auto"), "{resumed}");
    assert!(
        !resumed.contains("Open this page") && !resumed.contains("/authorize"),
        "no sign-in: the cached tokens are used\n{resumed}"
    );
    // Auto: a write tool runs without asking; a destructive one still asks.
    console.type_line("add a note \"in auto\"");
    let turn = console.expect_next("you> ", WAIT).await;
    assert!(
        turn.contains("→ tools add_note: approved by the mode (auto)"),
        "{turn}"
    );
    assert!(!turn.contains("approve?"), "{turn}");
    let id = saved_id(&turn);
    console.type_line(&format!("delete note {id}"));
    console.expect_next("approve? [y]es / [n]o ", WAIT).await;
    console.type_line("n");
    console.expect_next("you> ", WAIT).await;
    // Ctrl-C at the message prompt does not leave; Ctrl-D does.
    console.interrupt();
    console
        .expect_next("Ctrl-C stops a running turn", WAIT)
        .await;
    console.type_line("/mode yolo");
    console
        .expect_next("manual, auto or elicitation", WAIT)
        .await;
    let (code, screen) = {
        console.type_line("/quit");
        console.finish(WAIT).await
    };
    assert_eq!(code, 0, "{screen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn call_answers_a_servers_form_at_the_terminal() {
    let stack = Stack::start().await;
    let home = stack.home("call-form");
    let env = stack.configured_env(&home);

    let console = Console::spawn(
        &["call", "tools", "add_note", "text=to be deleted", "--yes"],
        &env,
    );
    sign_in_as(&console, "alice").await;
    let mut console = console;
    let (code, screen) = console.finish(WAIT).await;
    assert_eq!(code, 0, "{screen}");
    let id = saved_id(&screen);

    // The server asks for confirmation during the call: the form is asked on the terminal.
    let mut console = Console::spawn(
        &["call", "tools", "delete_note", &format!("id={id}"), "--yes"],
        &env,
    );
    let form = console
        .expect_next("answer? [a]nswer / [d]ecline / [c]ancel ", WAIT)
        .await;
    assert!(form.contains("tools asks, during delete_note:"), "{form}");
    console.type_line("a");
    console.expect_next("Delete this note * (y/n", WAIT).await;
    console.expect_next("): ", WAIT).await;
    console.type_line("");
    console.expect_next("send? ", WAIT).await;
    console.type_line("s");
    let (code, screen) = console.finish(WAIT).await;
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains(&format!("Deleted note {id}.")), "{screen}");

    // The older protocol generation (a server request on a session, not an input-required result):
    // the same prompt; declining keeps the note.
    let mut legacy = env.clone();
    legacy.retain(|(key, _)| key != "APP_MCP_SERVERS");
    legacy.push((
        "APP_MCP_SERVERS".into(),
        format!("tools={} {} protocol=legacy", stack.mcp, common::SCOPE),
    ));
    let mut console = Console::spawn(
        &["call", "tools", "add_note", "text=kept by legacy", "--yes"],
        &legacy,
    );
    let (code, screen) = console.finish(WAIT).await;
    assert_eq!(code, 0, "{screen}");
    let id = saved_id(&screen);
    let mut console = Console::spawn(
        &["call", "tools", "delete_note", &format!("id={id}"), "--yes"],
        &legacy,
    );
    console
        .expect_next("answer? [a]nswer / [d]ecline / [c]ancel ", WAIT)
        .await;
    console.type_line("d");
    let (code, screen) = console.finish(WAIT).await;
    assert_eq!(code, 0, "{screen}");
    assert!(
        screen.contains(&format!("The user declined: note {id} was not deleted.")),
        "{screen}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_killed_at_an_approval_asks_again_on_resume() {
    let stack = Stack::start().await;
    let home = stack.home("killed");
    let env = stack.configured_env(&home);

    let console = Console::spawn(&["chat"], &env);
    sign_in_as(&console, "alice").await;
    let mut console = console;
    console.expect_next("you> ", WAIT).await;
    console.type_line("add a note \"after a restart\"");
    console.expect_next("approve? [y]es / [n]o ", WAIT).await;
    // The terminal closes: the process is killed with the call still waiting for a decision.
    drop(console);

    // Resumed, the waiting call is asked about again (not left to block every new message).
    let mut console = Console::spawn(&["chat", "--resume"], &env);
    let card = console.expect_next("approve? [y]es / [n]o ", WAIT).await;
    assert!(card.contains("tool:      add_note (writes)"), "{card}");
    assert!(card.contains("\"text\": \"after a restart\""), "{card}");
    console.type_line("y");
    let turn = console.expect_next("you> ", WAIT).await;
    assert!(turn.contains("✓ tools add_note:"), "{turn}");
    assert!(turn.contains("after a restart"), "{turn}");
    console.type_line("/quit");
    let (code, screen) = console.finish(WAIT).await;
    assert_eq!(code, 0, "{screen}");
}
