// oversight-gui: the platform glue (GLFW window, OpenGL 3 context, Dear ImGui
// backends, the frame loop, --screenshot) around the panels of panels.h.
//
//   oversight-gui --db PATH [--panel browse|replay|dashboard|queue|live] [--experiment ID] [--episode ID]
//   oversight-gui --connect URL [--token TOKEN]   (judge through `oversight serve`; the token
//                 may instead be in OVERSIGHT_JUDGE_TOKEN; only the judge queue is shown)
//                 [--screenshot PNG --frames N | --seconds S] [--width W --height H]
//                 [--scroll ROWS --frame-times]   (benchmarks: tests/bench_gui.cpp)
//
// Exit status: 0, 2 for bad input (usage, a missing or foreign database, a
// newer schema), 1 when no window can be opened.
#include <GLFW/glfw3.h>
#include <backends/imgui_impl_glfw.h>
#include <backends/imgui_impl_opengl3.h>
#include <imgui.h>
#include <stb/stb_image_write.h>

#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "engine/store.h"
#include "gui/live_debate.h"
#include "gui/panels.h"

namespace {

struct Options {
  std::string db = "runs.db";
  std::string panel = "browse";  // the tab shown first
  int64_t experiment = 0;        // selected at start (0: the first)
  int64_t episode = 0;           // opened in the replay panel at start
  std::string screenshot;        // write a PNG of frame `frames`, then exit
  int frames = 5;
  double seconds = 0;            // > 0: run this long, then (screenshot and) exit
  int width = 1280, height = 800;
  int scroll = 0;            // browse table rows scrolled per frame (benchmark)
  bool frame_times = false;  // print frame-time statistics at exit
  std::string live_judge;    // judge checkpoint for live debates
  bool live_start = false;   // start a live debate at once
  int live_step_ms = 400;    // auto-play pace
  std::string connect;       // a judging service's URL
  std::string token;         // its token for this judge
};

// The framebuffer as a PNG (rows flipped: OpenGL's origin is bottom-left).
bool SavePng(const std::string& path, int width, int height) {
  std::vector<unsigned char> rgba(static_cast<size_t>(width) * height * 4);
  glPixelStorei(GL_PACK_ALIGNMENT, 1);
  glReadPixels(0, 0, width, height, GL_RGBA, GL_UNSIGNED_BYTE, rgba.data());
  std::vector<unsigned char> flipped(rgba.size());
  const size_t row = static_cast<size_t>(width) * 4;
  for (int y = 0; y < height; ++y)
    std::copy(rgba.begin() + (height - 1 - y) * row, rgba.begin() + (height - y) * row,
              flipped.begin() + y * row);
  return stbi_write_png(path.c_str(), width, height, 4, flipped.data(),
                        static_cast<int>(row)) != 0;
}

// Who claims queue items: host, process and start time.
std::string GuiIdentity() {
  char host[256] = "host";
  gethostname(host, sizeof host - 1);
  return std::string(host) + ":" + std::to_string(getpid()) + ":" +
         std::to_string(std::chrono::steady_clock::now().time_since_epoch().count());
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  CLI::App app{"Oversight Lab GUI: browse and replay the episodes of an experiment log"};
  app.add_option("--db", o.db, "SQLite log to open (read-only)")->capture_default_str();
  app.add_option("--panel", o.panel, "Panel shown first")
      ->check(CLI::IsMember({"browse", "replay", "dashboard", "queue", "live"}))
      ->capture_default_str();
  app.add_option("--experiment", o.experiment, "Experiment id selected at start (default: the first)");
  app.add_option("--episode", o.episode, "Episode id to open in the replay panel");
  app.add_option("--screenshot", o.screenshot, "Render --frames frames, save a PNG, exit");
  app.add_option("--frames", o.frames, "Frames before the screenshot")
      ->check(CLI::Range(1, 10000))
      ->capture_default_str();
  app.add_option("--seconds", o.seconds,
                 "Run this many seconds, then save --screenshot (if given) and exit; for "
                 "tests that drive the GUI with input events")
      ->check(CLI::Range(0.0, 86400.0));
  app.add_option("--scroll", o.scroll, "Scroll the episode table by N rows per frame")
      ->check(CLI::Range(0, 100000));
  app.add_flag("--frame-times", o.frame_times, "Print frame-time statistics at exit");
  app.add_option("--live-judge", o.live_judge, "Judge checkpoint (.pt) for live debates");
  app.add_flag("--live-start", o.live_start, "Start a live debate at once (greedy debaters)");
  app.add_option("--live-step-ms", o.live_step_ms, "Auto-play: milliseconds per reveal")
      ->check(CLI::Range(0, 10000));
  app.add_option("--connect", o.connect,
                 "Judge through a judging service (oversight serve) at this URL, e.g. "
                 "http://host:8765");
  app.add_option("--token", o.token,
                 "This judge's token for --connect (default: $OVERSIGHT_JUDGE_TOKEN)");
  app.add_option("--width", o.width, "Window width")->check(CLI::Range(320, 8192));
  app.add_option("--height", o.height, "Window height")->check(CLI::Range(240, 8192));
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  std::unique_ptr<oversight::LogView> view;
  std::unique_ptr<oversight::JudgeQueue> judge_queue;
  if (!o.connect.empty()) {
    // Only the queue, through the service: fail now, clearly, if it cannot
    // be reached or refuses the token.
    if (o.token.empty())
      if (const char* t = std::getenv("OVERSIGHT_JUDGE_TOKEN")) o.token = t;
    if (o.token.empty()) {
      std::fprintf(stderr, "oversight-gui: --connect needs --token (or OVERSIGHT_JUDGE_TOKEN)\n");
      return 2;
    }
    try {
      judge_queue = oversight::MakeRemoteJudgeQueue(o.connect, o.token, 5);
      judge_queue->CountPending();
    } catch (const std::exception& e) {
      std::fprintf(stderr, "oversight-gui: %s\n", e.what());
      return 2;
    }
  } else {
    try {
      view = std::make_unique<oversight::LogView>(o.db);
    } catch (const std::exception& e) {  // StoreError: missing, foreign, newer
      std::fprintf(stderr, "oversight-gui: %s\n", e.what());
      return 2;
    }
    judge_queue = oversight::MakeLocalJudgeQueue(o.db, GuiIdentity());
  }
  const std::string where = judge_queue->where();

  if (!glfwInit()) {
    std::fprintf(stderr, "oversight-gui: cannot initialise GLFW (no display? run under "
                         "xvfb-run for headless use)\n");
    return 1;
  }
  glfwWindowHint(GLFW_CONTEXT_VERSION_MAJOR, 3);
  glfwWindowHint(GLFW_CONTEXT_VERSION_MINOR, 0);
  GLFWwindow* window =
      glfwCreateWindow(o.width, o.height, ("Oversight Lab - " + where).c_str(), nullptr, nullptr);
  if (!window) {
    std::fprintf(stderr, "oversight-gui: cannot open an OpenGL 3.0 window\n");
    glfwTerminate();
    return 1;
  }
  glfwMakeContextCurrent(window);
  glfwSwapInterval(o.screenshot.empty() ? 1 : 0);
  IMGUI_CHECKVERSION();
  ImGui::CreateContext();
  ImGui::GetIO().IniFilename = nullptr;  // no imgui.ini beside the user's files
  ImGui::StyleColorsDark();
  ImGui_ImplGlfw_InitForOpenGL(window, true);
  ImGui_ImplOpenGL3_Init("#version 130");

  oversight::BrowsePanel browse(view.get());
  oversight::ReplayPanel replay(view.get());
  oversight::DashboardPanel dashboard(view.get());
  oversight::QueuePanel queue(std::move(judge_queue));
  oversight::LiveDebatePanel live(o.db, o.live_judge, o.live_step_ms);
  if (o.live_start && view) live.Start();
  if (o.experiment > 0 && view) browse.SelectExperiment(o.experiment);
  if (view) browse.Refresh();
  browse.scroll_rows_per_frame = o.scroll;
  std::vector<double> frame_ms;
  const double started = glfwGetTime();
  double last_frame = started;
  if (o.episode > 0 && view) replay.Open(o.episode);
  bool select_replay = o.panel == "replay";
  bool select_dashboard = o.panel == "dashboard";
  bool select_queue = o.panel == "queue";
  bool select_live = o.panel == "live";
  int frame = 0;
  int status = 0;
  std::string shown_title;
  while (!glfwWindowShouldClose(window)) {
    glfwPollEvents();
    ImGui_ImplOpenGL3_NewFrame();
    ImGui_ImplGlfw_NewFrame();
    ImGui::NewFrame();
    const ImGuiViewport* vp = ImGui::GetMainViewport();
    ImGui::SetNextWindowPos(vp->WorkPos);
    ImGui::SetNextWindowSize(vp->WorkSize);
    ImGui::Begin("Oversight Lab", nullptr,
                 ImGuiWindowFlags_NoDecoration | ImGuiWindowFlags_NoMove |
                     ImGuiWindowFlags_NoSavedSettings);
    ImGui::Text("%s", where.c_str());
    if (ImGui::BeginTabBar("panels")) {
      if (!view) {
        // Connected to a judging service: the log itself is on another machine.
        if (ImGui::BeginTabItem("Browse")) {
          ImGui::TextUnformatted("Connected to a judging service: only the judge queue is available.");
          ImGui::EndTabItem();
        }
      } else if (ImGui::BeginTabItem("Browse")) {
        if (const auto id = browse.Draw()) {
          replay.Open(*id);
          select_replay = true;
        }
        ImGui::EndTabItem();
      }
      if (view && ImGui::BeginTabItem("Replay", nullptr,
                                      select_replay ? ImGuiTabItemFlags_SetSelected : 0)) {
        replay.Draw();
        ImGui::EndTabItem();
      }
      if (view && ImGui::BeginTabItem("Dashboard", nullptr,
                                      select_dashboard ? ImGuiTabItemFlags_SetSelected : 0)) {
        if (browse.filter.experiment_id > 0) dashboard.Draw(browse.filter.experiment_id);
        ImGui::EndTabItem();
      }
      if (ImGui::BeginTabItem("Judge queue", nullptr,
                              select_queue ? ImGuiTabItemFlags_SetSelected : 0)) {
        queue.Draw();
        ImGui::EndTabItem();
      }
      if (view && ImGui::BeginTabItem("Judge a live debate", nullptr,
                                      select_live ? ImGuiTabItemFlags_SetSelected : 0)) {
        live.Draw();
        ImGui::EndTabItem();
      }
      select_replay = select_dashboard = select_queue = select_live = false;
      ImGui::EndTabBar();
    }
    ImGui::End();
    // Panel states in the title: what tests driving the GUI wait for.
    std::string title = "Oversight Lab - " + where;
    if (replay.detail) title += " [replay " + std::to_string(replay.detail->episode.id) + "]";
    for (const std::string* st : {&queue.state, &live.state})
      if (!st->empty()) title += " [" + *st + "]";
    if (title != shown_title) {
      glfwSetWindowTitle(window, title.c_str());
      shown_title = title;
    }
    ImGui::Render();
    int w = 0, h = 0;
    glfwGetFramebufferSize(window, &w, &h);
    glViewport(0, 0, w, h);
    glClearColor(0.08f, 0.08f, 0.09f, 1);
    glClear(GL_COLOR_BUFFER_BIT);
    ImGui_ImplOpenGL3_RenderDrawData(ImGui::GetDrawData());
    if (o.frame_times) {
      glFinish();  // count the GPU's (Mesa's) work in the frame
      const double t = glfwGetTime();
      frame_ms.push_back(1000.0 * (t - last_frame));
      last_frame = t;
    }
    ++frame;
    const bool done = o.seconds > 0 ? glfwGetTime() - started >= o.seconds
                                    : !o.screenshot.empty() && frame >= o.frames;
    if (done && o.screenshot.empty()) break;
    if (done) {
      if (!SavePng(o.screenshot, w, h)) {
        std::fprintf(stderr, "oversight-gui: cannot write %s\n", o.screenshot.c_str());
        status = 1;
      }
      break;
    }
    glfwSwapBuffers(window);
  }
  if (o.frame_times && frame_ms.size() > 1) {
    frame_ms.erase(frame_ms.begin());  // the first frame builds the font atlas
    std::sort(frame_ms.begin(), frame_ms.end());
    double sum = 0;
    for (double ms : frame_ms) sum += ms;
    std::printf("frames %zu  mean %.2f ms  median %.2f ms  p95 %.2f ms  max %.2f ms\n",
                frame_ms.size(), sum / frame_ms.size(), frame_ms[frame_ms.size() / 2],
                frame_ms[frame_ms.size() * 95 / 100], frame_ms.back());
  }
  ImGui_ImplOpenGL3_Shutdown();
  ImGui_ImplGlfw_Shutdown();
  ImGui::DestroyContext();
  glfwDestroyWindow(window);
  glfwTerminate();
  return status;
}
