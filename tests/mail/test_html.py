"""mailbot.mail.parse.html: HTML bodies to text, quote elements set apart."""

from __future__ import annotations

from mailbot.mail.parse.html import defuse, html_to_text
from tests.mail.mails import S1, S2, S3, S4, load, normalized


def test_html_only_apple_mail_blockquote_is_quoted() -> None:
    inbound = load("html-only.eml")
    assert normalized(inbound.serials) == [S3]
    assert normalized(inbound.quoted_serials) == [S4]
    assert "second Mac user" in inbound.text
    assert "&nbsp;" not in inbound.text and "<" not in inbound.text
    assert "wrote:" in inbound.quoted_text


def test_html_to_text_tables_scripts_entities_and_breaks() -> None:
    html = (
        "<html><head><title>T AMC</title><style>td {color: red}</style></head><body>"
        "<script>var s = 'AMC-0000-0000-0000-0000';</script>"
        "<table><tr><td>Name</td><td>Serial</td></tr><tr><td>Fred</td><td>"
        f"{S1}</td></tr></table>caf&eacute; &amp; more<br>line two<div>block</div>"
        "<p>para&nbsp;graph</p></body></html>"
    )
    new, quoted = html_to_text(html)
    assert quoted == ""
    lines = new.split("\n")
    assert "Name\tSerial" in lines
    assert f"Fred\t{S1}" in lines
    assert "café & more" in lines and "line two" in lines and "block" in lines
    assert "para graph" in lines
    assert "AMC-0000" not in new and "color" not in new and "T AMC" not in new


def test_html_gmail_quote_and_forward() -> None:
    reply = (
        '<div dir="ltr">ok thanks</div><div class="gmail_quote"><div class="gmail_attr">'
        f'On Mon wrote:</div><blockquote class="gmail_quote">{S1}</blockquote></div>'
    )
    assert html_to_text(reply) == ("ok thanks", f"On Mon wrote:\n\n{S1}")
    forward = (
        '<div dir="ltr">see below</div><div class="gmail_quote"><div class="gmail_attr">'
        "---------- Forwarded message ---------<br>From: A &lt;a@x&gt;<br></div>"
        f'<div>serial {S2}</div><div class="gmail_quote">old {S3}</div></div>'
    )
    new, quoted = html_to_text(forward)
    assert S2 in new and S3 not in new
    assert quoted == f"old {S3}"


def test_html_apple_forward_marker_before_blockquote() -> None:
    html = (
        "<div>FYI</div><div><br><div>Begin forwarded message:</div><br>"
        '<blockquote type="cite"><div><b>From: </b>Lukas</div>'
        f"<div>serial {S4}</div></blockquote></div>"
    )
    new, quoted = html_to_text(html)
    assert S4 in new and quoted == ""


def test_html_outlook_conditional_comments_are_dropped() -> None:
    html = (
        "<p>serial</p><!--[if gte mso 9]><xml><o:OfficeDocumentSettings>AMC-0000-0000-0000-0000"
        f"</o:OfficeDocumentSettings></xml><![endif]--><p>{S1}</p><![if !supportLists]>-<![endif]>"
    )
    assert html_to_text(html) == (f"serial\n\n{S1}\n-", "")


def test_html_without_body_tag_and_line_breaks() -> None:
    new, _ = html_to_text(f"<html><head><title>t</title><p>serial {S1}<br/>line<br>end")
    assert new == f"serial {S1}\nline\nend"


def test_html_unclosed_and_broken_markup() -> None:
    new, _ = html_to_text(f"<div><p>serial <b>{S1}<td><blockquote type=cite>old {S2}")
    assert S1 in new and S2 not in new
    assert html_to_text("<<<>>><!-- <p") is not None


def test_defuse_drops_comments_and_marked_sections_and_escapes_a_trailing_lt() -> None:
    assert defuse("a<!-- x -->b<![if x]>c<![endif]>d") == "a b c d"
    assert defuse("<p>x</p><!-- unclosed") == "<p>x</p>"
    assert defuse("<p>x</p> 1 < 2") == "<p>x</p> 1 &lt; 2"
