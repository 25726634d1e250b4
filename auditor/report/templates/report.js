(function () {
  "use strict";
  // Marks that the script ran under the page's Content-Security-Policy (the
  // browser test checks for it).
  document.documentElement.setAttribute("data-script", "ran");
  // Expand or collapse every <details> (flows behind findings, long lists);
  // printing opens them all so the paper copy is complete.
  function setAll(open) {
    var all = document.querySelectorAll("details");
    for (var i = 0; i < all.length; i++) { all[i].open = open; }
  }
  var expand = document.getElementById("expand-all");
  var collapse = document.getElementById("collapse-all");
  if (expand) { expand.addEventListener("click", function () { setAll(true); }); }
  if (collapse) { collapse.addEventListener("click", function () { setAll(false); }); }
  var before = [];
  window.addEventListener("beforeprint", function () {
    var all = document.querySelectorAll("details");
    before = [];
    for (var i = 0; i < all.length; i++) { before.push(all[i].open); all[i].open = true; }
  });
  window.addEventListener("afterprint", function () {
    var all = document.querySelectorAll("details");
    for (var i = 0; i < all.length && i < before.length; i++) { all[i].open = before[i]; }
  });
})();
