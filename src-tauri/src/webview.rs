//! How the window's WebKitGTK web view is tuned for a messaging app that stays
//! open all day on a clinic workstation (docs/desktop-ipc.md, "Memory").
//!
//! - **Software painting by default** (accelerated compositing off; `DMP_GPU=1`
//!   turns WebKit's own policy back on): for a text-and-bubbles window it
//!   costs nothing visible, and the web process then holds 80–180 MB less
//!   (BENCHMARKS.md "Desktop app": opening a conversation costs ~+175 MB with
//!   compositing, through Mesa's GL where there is no GPU, +8 MB without). It
//!   also avoids the blank windows some GPU drivers give WebKitGTK. One cost:
//!   WebKitGTK's snapshot API never answers then, so the real-window tests
//!   take their screenshots from the X server, not through WebDriver.
//! - **No JIT in the web process** by default (`DMP_JIT=1` to keep it), set
//!   in the environment before WebKit starts the process:
//!   [`prepare_environment`].
//! - **No page cache** (wry turns it on): the app never navigates back to a
//!   previous page, so a cached copy of one is only memory.
//! - **The "document viewer" cache model**: the smallest memory caches, as the
//!   page's resources are all local (the app's own assets).

/// JavaScriptCore's options for the web process, through the environment it
/// inherits (WebKit starts it later, from this process): **no JIT** unless
/// `DMP_JIT=1` or the caller set `JSC_useJIT` itself. JavaScriptCore's
/// interpreter runs this app's JavaScript fast enough (start, sign-in and
/// opening a conversation within 0.1–0.2 s of the JIT's figures), and the
/// web process holds ~20 MB less (BENCHMARKS.md "Desktop app"). Called first
/// in [`crate::run`], before any other thread exists.
pub(crate) fn prepare_environment() {
    let jit = std::env::var("DMP_JIT").is_ok_and(|v| v == "1");
    if !jit && std::env::var_os("JSC_useJIT").is_none() {
        std::env::set_var("JSC_useJIT", "false");
    }
}

/// The plugin that tunes each web view as soon as it exists.
pub(crate) fn plugin<R: tauri::Runtime>() -> tauri::plugin::TauriPlugin<R> {
    tauri::plugin::Builder::new("dmp-webview")
        .on_webview_ready(|webview| {
            #[cfg(target_os = "linux")]
            if let Err(e) = webview.with_webview(|w| tune(w, gpu_wanted())) {
                tracing::warn!(error = %e, "the web view could not be tuned");
            }
            #[cfg(not(target_os = "linux"))]
            let _ = webview;
        })
        .build()
}

/// Whether WebKit's own compositing policy is wanted (`DMP_GPU=1`).
fn gpu_wanted() -> bool {
    std::env::var("DMP_GPU").is_ok_and(|v| v == "1")
}

#[cfg(target_os = "linux")]
fn tune(platform: tauri::webview::PlatformWebview, gpu: bool) {
    use webkit2gtk::{
        CacheModel, HardwareAccelerationPolicy, SettingsExt as _, WebContextExt as _, WebViewExt,
    };
    let view = platform.inner();
    if let Some(settings) = WebViewExt::settings(&view) {
        settings.set_enable_page_cache(false);
        if !gpu {
            settings.set_hardware_acceleration_policy(HardwareAccelerationPolicy::Never);
        }
    }
    if let Some(context) = WebViewExt::context(&view) {
        context.set_cache_model(CacheModel::DocumentViewer);
    }
}

/// Time since the kernel started this process (Linux: `/proc/self/stat`'s
/// start time against `/proc/uptime`), so dynamic linking and everything
/// before `main` count too.
pub(crate) fn since_spawn() -> Option<std::time::Duration> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Field 22, counted after the command name's closing parenthesis.
    let start_ticks: f64 = stat
        .rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(19)?
        .parse()
        .ok()?;
    let uptime: f64 = std::fs::read_to_string("/proc/uptime")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    // The kernel's USER_HZ: 100 on every Linux the app targets.
    let secs = uptime - start_ticks / 100.0;
    (secs >= 0.0).then(|| std::time::Duration::from_secs_f64(secs))
}
