// dmpilot console: the only script. Plain JavaScript, no library, nothing inline (the CSP
// allows scripts from this origin only).
//  - disables a form's buttons once it is sent;
//  - keeps a conversation's timeline live: polls the fragment endpoint every few seconds,
//    appends what is new, and notices when the contact's status changed.
(function () {
  "use strict";

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!(form instanceof HTMLFormElement)) return;
    // One submission: a double click must not post twice (the reply key also guards it).
    window.setTimeout(function () {
      form.querySelectorAll("button[type=submit]").forEach(function (button) {
        button.disabled = true;
        var busy = form.getAttribute("data-busy");
        if (busy) button.textContent = busy;
      });
    }, 0);
  });

  function startTimeline(timeline) {
    var url = timeline.getAttribute("data-poll-url");
    var cursor = timeline.getAttribute("data-cursor");
    var status = timeline.getAttribute("data-status");
    var every = parseInt(timeline.getAttribute("data-poll-ms"), 10) || 3000;
    var stopped = false;

    function schedule() {
      if (!stopped) window.setTimeout(poll, document.hidden ? every * 4 : every);
    }

    function poll() {
      fetch(url + "?after=" + encodeURIComponent(cursor), {
        credentials: "same-origin",
        headers: { "X-Requested-With": "fetch" },
        cache: "no-store"
      }).then(function (response) {
        if (response.status === 401) {
          stopped = true;  // the session ended: reloading leads to the sign-in
          window.location.reload();
          return null;
        }
        if (!response.ok) return null;
        var next = response.headers.get("X-Timeline-Cursor");
        var now = response.headers.get("X-Contact-Status");
        return response.text().then(function (html) {
          append(html);
          if (next) cursor = next;
          if (now && now !== status) statusChanged(now);
        });
      }).catch(function () {
        // Offline or the server restarting: try again at the next tick.
      }).then(schedule);
    }

    function append(html) {
      if (!html.trim()) return;
      var holder = document.createElement("template");
      holder.innerHTML = html;  // server-rendered with autoescaping
      var nearBottom = window.innerHeight + window.scrollY >= document.body.scrollHeight - 200;
      Array.prototype.forEach.call(holder.content.children, function (entry) {
        entry.classList.add("new");
      });
      timeline.appendChild(holder.content);
      var empty = document.querySelector("[data-testid=timeline-empty]");
      if (empty) empty.remove();
      if (nearBottom) timeline.lastElementChild.scrollIntoView({ block: "end", behavior: "smooth" });
    }

    function statusChanged(now) {
      status = now;
      document.querySelectorAll("[data-testid=contact-status]").forEach(function (badge) {
        badge.textContent = now;
        badge.className = "badge status-" + now;
      });
      var notice = document.getElementById("status-changed");
      if (notice) notice.classList.remove("hidden");
    }

    schedule();
  }

  document.querySelectorAll("[data-testid=timeline][data-live]").forEach(startTimeline);
})();
