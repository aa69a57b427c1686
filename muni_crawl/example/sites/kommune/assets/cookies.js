document.addEventListener('DOMContentLoaded', function () {
  var banner = document.querySelector('.cookie-banner');
  if (!banner) { return; }
  if (localStorage.getItem('cookie-consent')) { banner.hidden = true; return; }
  banner.querySelectorAll('button').forEach(function (b) {
    b.addEventListener('click', function () {
      localStorage.setItem('cookie-consent', b.className);
      banner.hidden = true;
    });
  });
});
