// Live updates (forum/live.py): new replies, edits, likes and votes on a topic page, "N new or
// updated topics" on lists, the notification count and "… is replying". The stream only says what
// changed; what is shown is fetched through the page's own addresses. Pages are complete without it.
(function () {
  "use strict";
  if (!window.EventSource || !window.fetch || !window.DOMParser) return;
  var t = window.forumT || function (text) { return text; };
  var meta = document.querySelector('meta[name="csrf-token"]');
  var csrf = meta ? meta.content : "";
  var tools = document.getElementById("topic-tools");
  var listBar = document.querySelector("[data-live-list]");
  var signedIn = !!document.querySelector(".notifications-link");
  var me = document.body.dataset.username || "";
  var params = [];
  if (tools) {
    params.push("topic_id=" + encodeURIComponent(tools.dataset.topicId), "after=" + encodeURIComponent(tools.dataset.highest));
  } else if (listBar) {
    params.push("list=" + encodeURIComponent(listBar.dataset.liveList));
  } else if (!signedIn) {
    return;
  }

  // What changed is fetched afresh: not from the pages kept for this reader (forum/pagecache.py),
  // which quiet changes of other people (a first visit: "seen by") reach only after a while.
  var fresh = { credentials: "same-origin", headers: { "Cache-Control": "no-cache" } };

  function announce(text) {
    var live = document.getElementById("live-status");
    if (live) live.textContent = text;
  }

  function bar(id, before) {
    var el = document.getElementById(id);
    if (!el) {
      el = document.createElement("p");
      el.id = id;
      el.className = "notice live-bar";
      el.setAttribute("role", "status");
      before.parentNode.insertBefore(el, before);
    }
    return el;
  }

  function showLink(el, text, href) {
    el.textContent = "";
    var a = document.createElement("a");
    a.href = href;
    a.textContent = text;
    el.appendChild(a);
    el.hidden = false;
  }

  // --- a topic page ---
  var topicId = tools ? tools.dataset.topicId : null;
  var topicUrl = tools ? tools.dataset.url : null;
  var highest = tools ? parseInt(tools.dataset.highest, 10) || 0 : 0;
  var unseen = 0;

  function posts() { return document.querySelectorAll("article.post[id^=post_]"); }
  function lastShown() {
    var all = posts();
    return all.length ? parseInt(all[all.length - 1].id.replace("post_", ""), 10) : 0;
  }
  function nearBottom() {
    var all = posts();
    if (!all.length) return true;
    return all[all.length - 1].getBoundingClientRect().top < window.innerHeight * 1.5;
  }
  // The page that holds post n, as the reader would get it; its articles, by number.
  function fetchPosts(n) {
    return fetch(topicUrl + "/" + n, fresh)
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        var found = {};
        if (!html) return found;
        var doc = new DOMParser().parseFromString(html, "text/html");
        doc.querySelectorAll("article.post[id^=post_]").forEach(function (el) {
          found[parseInt(el.id.replace("post_", ""), 10)] = el;
        });
        return found;
      });
  }
  function adopt(el) {
    var node = document.importNode(el, true);
    if (window.forumEnhance) window.forumEnhance(node);
    return node;
  }

  function newReplies(upTo) {
    var shownBefore = lastShown();
    var onLastPage = shownBefore >= highest;
    highest = Math.max(highest, upTo);
    if (tools) tools.dataset.highest = highest;
    if (onLastPage && nearBottom()) {
      fetchPosts(upTo).then(function (found) {
        var anchor = posts()[posts().length - 1];
        Object.keys(found).map(Number).sort(function (a, b) { return a - b; }).forEach(function (n) {
          if (n > lastShown() && !document.getElementById("post_" + n) && anchor) {
            var node = adopt(found[n]);
            anchor.parentNode.insertBefore(node, anchor.nextSibling);
            anchor = node;
          }
        });
        announce(t("New replies: %(num)s").replace("%(num)s", Math.max(upTo - shownBefore, 1)));
      });
      return;
    }
    unseen = highest - lastShown();
    if (unseen > 0) {
      var where = document.querySelector("section.composer") || tools;
      showLink(bar("live-new-replies", where), t("New replies: %(num)s").replace("%(num)s", unseen),
               topicUrl + "/" + (lastShown() + 1));
    }
  }

  // A post changed (an edit, a like, a vote): it is fetched again and put in place, unless a later
  // change of it is already being fetched (answers can arrive out of order), or the reader is in
  // the middle of something inside it (focus, a poll choice not yet sent): then only its polls are
  // refreshed, by static/decide.js, which leaves alone the one being voted in.
  // What the reader last did inside a post or the panels (a vote, a like, a choice), and when: an
  // answer asked for before that is older than what the page shows and is dropped.
  function touch(event) {
    var host = event.target.closest && event.target.closest("article.post, #topic-panels");
    if (host) host.dataset.touched = String(Date.now());
  }
  ["submit", "change", "input", "click"].forEach(function (kind) { document.addEventListener(kind, touch, true); });
  function stale(el, askedAt) { return Number(el.dataset.touched || 0) >= askedAt; }

  var asked = {};
  function changed(n) {
    if (!document.getElementById("post_" + n)) return;
    var mine = asked[n] = (asked[n] || 0) + 1, askedAt = Date.now();
    fetchPosts(n).then(function (found) {
      var old = document.getElementById("post_" + n);
      if (asked[n] !== mine || !found[n] || !old || stale(old, askedAt)) return;
      if (old.contains(document.activeElement) || old.querySelector(".poll-widget[data-dirty]")) {
        if (window.forumRefreshPolls) window.forumRefreshPolls();
        return;
      }
      old.parentNode.replaceChild(adopt(found[n]), old);
    });
  }

  var replying = {};
  function showPresence() {
    var composer = document.querySelector("section.composer");
    if (!composer) return;
    var names = Object.keys(replying);
    var el = document.getElementById("live-presence");
    if (!names.length) { if (el) el.hidden = true; return; }
    if (!el) {
      el = document.createElement("p");
      el.id = "live-presence";
      el.className = "presence";
      el.setAttribute("aria-live", "polite");
      composer.insertBefore(el, composer.firstChild);
    }
    el.textContent = names.map(function (name) { return t("%(user)s is replying…").replace("%(user)s", name); }).join(" ");
    el.hidden = false;
  }
  function presence(data) {
    if (!data.username || data.username === me) return;
    clearTimeout(replying[data.username]);
    if (data.state === "replying") {
      replying[data.username] = setTimeout(function () { delete replying[data.username]; showPresence(); }, 20000);
    } else {
      delete replying[data.username];
    }
    showPresence();
  }

  // The reader's own composer says, at most every 10 s while typing, that they are replying.
  var box = document.getElementById("reply-raw");
  if (tools && box && csrf) {
    var told = 0;
    var tell = function (state) {
      var body = "topic_id=" + encodeURIComponent(topicId) + "&state=" + state;
      fetch("/live/presence", { method: "POST", credentials: "same-origin", keepalive: state === "stopped",
        headers: { "X-CSRF-Token": csrf, "Content-Type": "application/x-www-form-urlencoded" }, body: body }).catch(function () {});
    };
    box.addEventListener("input", function () {
      var now = Date.now();
      if (box.value.trim() && now - told > 10000) { told = now; tell("replying"); }
      if (!box.value.trim() && told) { told = 0; tell("stopped"); }
    });
    if (box.form) box.form.addEventListener("submit", function () { if (told) { told = 0; tell("stopped"); } });
  }

  // --- a list page ---
  var changedTopics = {};
  function listChanged(data) {
    changedTopics[data.topic_id] = true;
    var n = Object.keys(changedTopics).length;
    showLink(listBar, t("New or updated topics: %(num)s").replace("%(num)s", n), window.location.href);
  }

  // --- the stream, and a slow poll while live updates cannot cross processes ---
  // A topic page asks its topic's JSON for new replies; a list asks the list's JSON for topics
  // bumped since the page was made.
  var listSince = listBar ? Date.parse(listBar.dataset.liveSince || "") : NaN;
  function pollOnce() {
    if (document.visibilityState === "hidden") return;
    var url = tools ? "/t/" + topicId + ".json" : listBar.dataset.liveJson;
    fetch(url, { credentials: "same-origin", headers: { Accept: "application/json", "Cache-Control": "no-cache" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) return;
        if (tools) {
          if (data.highest_post_number > highest) newReplies(data.highest_post_number);
          return;
        }
        ((data.topic_list && data.topic_list.topics) || []).forEach(function (topic) {
          if (Date.parse(topic.bumped_at) > listSince) listChanged({ topic_id: topic.id });
        });
      }).catch(function () {});
  }
  var poll = null;
  function slowPoll(seconds) {
    if (!seconds) { clearInterval(poll); poll = null; return; }
    if (poll || !(tools || (listBar && listBar.dataset.liveJson))) return;
    pollOnce();
    poll = setInterval(pollOnce, Math.max(seconds, 1) * 1000);
  }

  var source = new EventSource("/live?" + params.join("&"));
  function on(kind, handler) {
    source.addEventListener(kind, function (event) {
      var data = {};
      try { data = JSON.parse(event.data || "{}"); } catch (e) { return; }
      handler(data);
    });
  }
  on("post", function (data) {
    if (tools) { if (data.post_number > highest || !document.getElementById("post_" + data.post_number)) newReplies(Math.max(data.post_number, data.highest_post_number || 0)); }
  });
  on("post_changed", function (data) { changed(data.post_number); });
  on("seen", function () {
    // Someone read the topic for the first time: "Seen by N of M", afresh.
    fetch(window.location.pathname, fresh).then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var fresh = new DOMParser().parseFromString(html, "text/html").querySelector("#topic-tools .seen-by");
        var here = document.querySelector("#topic-tools .seen-by");
        if (fresh && here) here.innerHTML = fresh.innerHTML;
      }).catch(function () {});
  });
  var panelsAsked = 0;
  on("panels", function () {
    // A proposal's positions or an event's RSVPs changed: the panels above the posts, afresh,
    // unless the reader has been at them since (their own answer already shows) or is at them now.
    var mine = ++panelsAsked, askedAt = Date.now();
    fetch(window.location.pathname, fresh).then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        var here = document.getElementById("topic-panels");
        if (!html || !here || mine !== panelsAsked || stale(here, askedAt) || here.contains(document.activeElement)) return;
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("topic-panels");
        if (fresh) here.parentNode.replaceChild(document.importNode(fresh, true), here);
      }).catch(function () {});
  });
  on("topic", function (data) {
    if (listBar && !tools) { listChanged(data); return; }
    if (tools && data.closed && tools.dataset.closed !== "1") {
      var where = document.querySelector("section.composer");
      if (where && !document.getElementById("live-closed")) {
        showLink(bar("live-closed", where), t("This topic is closed. It no longer accepts new replies."), window.location.href);
      }
    }
  });
  on("presence", presence);
  on("notifications", function () { if (window.forumRefreshBadge) window.forumRefreshBadge(); });
  on("degraded", function (data) { slowPoll(data.poll_seconds || 30); });
  on("restored", function () { slowPoll(0); });
  on("missed", function () {
    var where = document.querySelector("main");
    if (where) showLink(bar("live-missed", where.firstChild || where), t("This page has changed. Reload"), window.location.href);
  });
  on("close", function (data) {
    // A server going away: the browser reconnects (to another process) and resumes. Anything
    // else (logged out, no longer allowed to see this page): stop.
    if (data.reason !== "shutdown" && data.reason !== "behind") source.close();
  });
})();
