// Read tracking, the notifications menu and @mention autocomplete. Every page works without this file.
(function () {
  "use strict";
  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.content : "";
  // Tells the server that posts are marked read as they scroll into view, not by the page view.
  document.cookie = "forum_js=1; path=/; max-age=31536000; SameSite=Lax";

  function post(url, body, keepalive) {
    return fetch(url, {
      method: "POST", credentials: "same-origin", keepalive: !!keepalive,
      headers: { "X-CSRF-Token": csrf, "X-Requested-With": "fetch", "Content-Type": "application/x-www-form-urlencoded" },
      body: body || ""
    });
  }

  function announce(text) {
    var live = document.getElementById("live-status");
    if (live) live.textContent = text;
  }

  function setBadge(count) {
    var link = document.querySelector(".notifications-link");
    if (!link) return;
    var badge = link.querySelector(".badge-count");
    var before = badge ? parseInt(badge.textContent, 10) || 0 : 0;
    if (!count) { if (badge) badge.remove(); return; }
    if (!badge) { badge = document.createElement("span"); badge.className = "badge-count"; link.appendChild(badge); }
    badge.textContent = count;
    if (count > before) {
      var t = window.forumT || function (text) { return text; };
      announce(t("New notifications: %(num)s unread").replace("%(num)s", count));
    }
  }

  // --- read tracking: a post counts as read after it has been on screen for a moment ---
  var tools = document.getElementById("topic-tools");
  if (tools && document.querySelector(".watch-form") && "IntersectionObserver" in window) {
    var topicId = tools.dataset.topicId, highest = 0, sent = 0, timer = null, timers = {};
    var flush = function (keepalive) {
      if (highest <= sent) return;
      var number = highest;
      post("/t/" + topicId + "/read", "post_number=" + number, keepalive).then(function (r) {
        if (r.ok) { sent = Math.max(sent, number); refreshBadge(); }
      }).catch(function () {});
    };
    var observer = new IntersectionObserver(function (entries) {
      entries.forEach(function (entry) {
        var n = parseInt(entry.target.id.replace("post_", ""), 10);
        if (entry.isIntersecting) {
          timers[n] = setTimeout(function () {
            if (n > highest) { highest = n; clearTimeout(timer); timer = setTimeout(flush, 1000); }
          }, 800);
        } else { clearTimeout(timers[n]); }
      });
    }, { threshold: 0.5 });
    document.querySelectorAll("article.post[id^=post_]").forEach(function (el) { observer.observe(el); });
    window.addEventListener("pagehide", function () { flush(true); });
  }

  // New notifications show (and are announced) while the page stays open.
  if (document.querySelector(".notifications-link")) {
    window.setInterval(function () { if (document.visibilityState === "visible") refreshBadge(); }, 60000);
  }

  window.forumRefreshBadge = refreshBadge;  // static/live.js calls it when notifications change
  function refreshBadge() {
    fetch("/notifications/menu", { credentials: "same-origin" }).then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (html === null) return;
        var count = (html.match(/class="notification unread"/g) || []).length;
        setBadge(count);
      }).catch(function () {});
  }

  // --- the notifications menu ---
  var link = document.querySelector(".notifications-link");
  var menu = null;
  function closeMenu() { if (menu) { menu.remove(); menu = null; link.setAttribute("aria-expanded", "false"); } }
  if (link) {
    link.setAttribute("aria-expanded", "false");
    link.addEventListener("click", function (event) {
      if (event.ctrlKey || event.metaKey || event.shiftKey || event.button) return;
      event.preventDefault();
      if (menu) { closeMenu(); return; }
      fetch("/notifications/menu", { credentials: "same-origin" }).then(function (r) { return r.ok ? r.text() : null; })
        .then(function (html) {
          if (html === null) { window.location = link.href; return; }
          menu = document.createElement("div");
          menu.className = "notification-dropdown";
          menu.innerHTML = html; // rendered and escaped by the server
          link.parentNode.insertBefore(menu, link.nextSibling);
          link.setAttribute("aria-expanded", "true");
          var first = menu.querySelector("a, button");
          if (first) first.focus();
        });
    });
    document.addEventListener("keydown", function (event) { if (event.key === "Escape" && menu) { closeMenu(); link.focus(); } });
    document.addEventListener("click", function (event) {
      if (menu && !menu.contains(event.target) && event.target !== link && !link.contains(event.target)) closeMenu();
    });
  }

  // "Mark read" without leaving the page.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.classList || !form.classList.contains("mark-read")) return;
    event.preventDefault();
    post(form.action).then(function (r) { return r.ok ? r.json() : null; }).then(function (data) {
      if (!data) { form.submit(); return; }
      var item = form.closest(".notification");
      if (item) { item.classList.remove("unread"); var tag = item.querySelector(".tag"); if (tag) tag.remove(); }
      form.remove();
      setBadge(data.unread);
    });
  });

  // --- @mention autocomplete in the composer ---
  document.querySelectorAll("textarea[name=raw]").forEach(function (area) {
    var list = document.createElement("ul");
    list.className = "mention-suggestions";
    list.setAttribute("role", "listbox");
    list.id = "mentions-" + Math.random().toString(36).slice(2);
    list.hidden = true;
    area.parentNode.insertBefore(list, area.nextSibling);
    area.setAttribute("aria-autocomplete", "list");
    area.setAttribute("aria-controls", list.id);
    var active = -1, items = [], timer = null, lastTerm = null;

    function currentTerm() {
      var before = area.value.slice(0, area.selectionStart);
      var m = before.match(/(^|[\s(])@([A-Za-z0-9_.-]{1,20})$/);
      return m ? m[2] : null;
    }
    function hide() { list.hidden = true; active = -1; items = []; area.removeAttribute("aria-activedescendant"); }
    function choose(i) {
      var user = items[i];
      if (!user) return;
      var pos = area.selectionStart, before = area.value.slice(0, pos), after = area.value.slice(pos);
      before = before.replace(/@([A-Za-z0-9_.-]{1,20})$/, "@" + user.username + " ");
      area.value = before + after;
      area.selectionStart = area.selectionEnd = before.length;
      hide();
      area.focus();
    }
    function highlight(i) {
      active = i;
      Array.prototype.forEach.call(list.children, function (li, j) { li.setAttribute("aria-selected", j === i ? "true" : "false"); });
      if (list.children[i]) area.setAttribute("aria-activedescendant", list.children[i].id);
    }
    function show(users) {
      items = users;
      list.innerHTML = "";
      users.forEach(function (u, i) {
        var li = document.createElement("li");
        li.id = list.id + "-" + i;
        li.setAttribute("role", "option");
        li.textContent = "@" + u.username + (u.name ? " — " + u.name : "");
        li.addEventListener("mousedown", function (e) { e.preventDefault(); choose(i); });
        list.appendChild(li);
      });
      list.hidden = users.length === 0;
      if (users.length) highlight(0);
    }
    area.addEventListener("input", function () {
      var term = currentTerm();
      if (!term) { hide(); return; }
      if (term === lastTerm) return;
      lastTerm = term;
      clearTimeout(timer);
      timer = setTimeout(function () {
        fetch("/u/search/users.json?term=" + encodeURIComponent(term), { credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.json() : { users: [] }; })
          .then(function (data) { if (currentTerm() === term) show(data.users || []); });
      }, 150);
    });
    area.addEventListener("keydown", function (e) {
      if (list.hidden) return;
      if (e.key === "ArrowDown") { e.preventDefault(); highlight((active + 1) % items.length); }
      else if (e.key === "ArrowUp") { e.preventDefault(); highlight((active - 1 + items.length) % items.length); }
      else if (e.key === "Enter" || e.key === "Tab") { e.preventDefault(); choose(active); }
      else if (e.key === "Escape") { hide(); }
    });
    area.addEventListener("blur", function () { setTimeout(hide, 150); });
  });
})();
