//! The mock bot as its own binary, so tests can use it as `BOT_COMMAND`.

#[tokio::main(flavor = "current_thread")]
async fn main() {
    std::process::exit(vexa_meetings::mock_bot::run().await);
}
