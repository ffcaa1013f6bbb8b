"""The real issue of 大连数字贸易 (Markdown converted from the print layout) imports cleanly."""

from __future__ import annotations

import re

from service.issues.sentences import missing_sentences, sentences
from service.issues.structure import IssueDoc

EXPECTED_SECTIONS = ["专家观点", "国内资讯", "国际资讯", "政策报告", "协会动态"]

# The printed table of contents, in order.
EXPECTED_TITLES = [
    "中国服务外包：构筑新优势 激发新动能",
    "中国光谷加速发展人工智能产业 发布十大重点任务",
    "构建数字经济“最强大脑” 浙江为何这么会“算”？",
    "今年北京力争推动人工智能产业规模突破 5500 亿元",
    "我国发明专利申请量连续多年全球居首",
    "贸易政策深刻影响全球出口格局",
    "中国东盟深化数字经济合作",
    "中国 AI 眼镜吸引全球观众",
    "中国创新在国际发明展引“惊叹”",
    "中国技术助力肯尼亚移动支付平台走向全球",
    "关于促进旅行服务出口 扩大入境消费的政策措施",
    "大连市数字贸易协会第三届第五次理事会与协会 2026 年年会同日召开",
]


def _article(doc: IssueDoc, title: str) -> str:
    return next(a.body for _, a in doc.articles() if a.title == title)


def test_masthead_gives_journal_and_number_but_no_invented_date(demo_doc: IssueDoc) -> None:
    assert demo_doc.journal == "大连数字贸易"
    assert demo_doc.number == "2026 年第 1 期 (总第 14 期)"
    assert demo_doc.date is None
    # The rest of the cover is issue metadata, not front matter that opens the email.
    assert demo_doc.cover_lines == ["季刊", "大连市数字贸易协会秘书处编", "内部资料"]
    assert demo_doc.intro == ""


def test_sections_are_the_bracketed_markers_in_order(demo_doc: IssueDoc) -> None:
    # The printed TOC groups 国内资讯/国际资讯 under 行业资讯; the body markers win.
    assert [s.title for s in demo_doc.sections] == EXPECTED_SECTIONS
    assert [len(s.articles) for s in demo_doc.sections] == [1, 4, 5, 1, 1]


def test_article_titles_match_the_printed_table_of_contents(demo_doc: IssueDoc) -> None:
    assert [a.title for _, a in demo_doc.articles()] == EXPECTED_TITLES


def test_anchors_are_unique_and_stable(demo_doc: IssueDoc) -> None:
    anchors = [a.anchor for _, a in demo_doc.articles()]
    assert anchors == [f"a{n}" for n in range(1, 13)]


def test_toc_lists_sections_with_article_titles_and_anchors(demo_doc: IssueDoc) -> None:
    toc = demo_doc.toc()
    assert [entry["title"] for entry in toc] == EXPECTED_SECTIONS
    assert toc[2]["articles"][2] == {"title": "中国 AI 眼镜吸引全球观众", "anchor": "a8"}


def test_subheadings_stay_inside_their_article(demo_doc: IssueDoc) -> None:
    zhejiang = _article(demo_doc, EXPECTED_TITLES[2])
    assert "### 浙江为何这么“会算”？" in zhejiang.split("\n\n")

    policy = _article(demo_doc, EXPECTED_TITLES[10])
    subheadings = [line for line in policy.split("\n\n") if line.startswith("### ")]
    assert subheadings == [
        "### 一、扩大入境旅游消费",
        "### 二、便利入境商务活动",
        "### 三、激活入境赛事消费",
        "### 四、繁荣入境文娱消费",
        "### 五、拓展入境健康消费",
        "### 六、发展入境教育培训消费",
        "### 七、完善保障措施",
    ]
    glasses = _article(demo_doc, "中国 AI 眼镜吸引全球观众")
    assert "### 海外观众体验“一句话办事”" in glasses
    assert "### 新一代人机交互入口" in glasses


def test_no_page_furniture_reaches_any_article(demo_doc: IssueDoc) -> None:
    for _, article in demo_doc.articles():
        assert "CONTENTS" not in article.body
        assert "目录" not in article.body
        assert " | " not in article.body
        assert "---" not in article.body
        assert not re.search(r"^\(\d+\)", article.body, re.MULTILINE)
        assert not re.search(r"^/", article.body, re.MULTILINE)
        assert "【" not in article.body
        assert "文章来源" not in article.body


def test_removed_furniture_is_only_toc_and_running_heads(demo_doc: IssueDoc) -> None:
    assert "CONTENTS" in demo_doc.removed
    assert "目录 | 大连数字贸易 / 2026 年第 1 期 (总第 14 期)" in demo_doc.removed
    # Nothing that reads like prose was thrown away.
    assert not [r for r in demo_doc.removed if "。" in r]


def test_paragraphs_cut_by_page_breaks_are_rejoined(demo_doc: IssueDoc) -> None:
    outsourcing = _article(demo_doc, EXPECTED_TITLES[0])
    assert "成员国离岸服务外包执行额合计 2591.8 亿元" in outsourcing
    trade = _article(demo_doc, "贸易政策深刻影响全球出口格局")
    assert "降低了其竞争力，当某国" in trade
    assert "减少了非关税壁垒" in trade
    asean = _article(demo_doc, "中国东盟深化数字经济合作")
    assert "中国（广西)一东盟水果大模型" in asean
    glasses = _article(demo_doc, "中国 AI 眼镜吸引全球观众")
    assert "逐一体验。" in glasses
    for _, article in demo_doc.articles():
        for paragraph in article.body.split("\n\n"):
            # Every remaining paragraph ends like a paragraph (or is a heading or a list).
            assert paragraph.startswith(("### ", "- ")) or paragraph[-1] in "。！？；…」”’）)：:"


def test_heading_broken_by_a_hard_line_break_is_one_title(demo_doc: IssueDoc) -> None:
    association = demo_doc.sections[-1].articles[0]
    assert association.title.endswith("年会同日召开")
    assert "\n" not in association.title


def test_sources_are_extracted_without_their_label(demo_doc: IssueDoc) -> None:
    sources = [a.source for _, a in demo_doc.articles()]
    assert sources == [
        "国际商报",
        "中国新闻网",
        "中国新闻网",
        "中国新闻网",
        "人民日报",
        "经济日报",
        "国际商报",
        "人民日报海外版",
        "经济日报",
        "光明日报",
        "商务部网站",
        None,
    ]
    assert demo_doc.sections[0].articles[0].source_label == "文章来源"


def test_contact_block_is_parsed_into_pairs(demo_doc: IssueDoc) -> None:
    assert demo_doc.contact == [
        ("电话", "0411-84766033"),
        ("传真", "0411-84766619"),
        ("Email", "service@dldta.org.cn"),
        ("地址", "大连市沙河口区数码广场 5 号 大连软件园 11 号楼 1106 室"),
        ("网址", "www.dldta.cn"),
        ("官方微博", "http://e.weibo.com/dlaoso"),
    ]
    last = demo_doc.sections[-1].articles[-1].body
    assert "0411-84766033" not in last
    assert last.endswith("分别进行了业务分享。")


def test_member_company_lines_become_a_list(demo_doc: IssueDoc) -> None:
    body = demo_doc.sections[-1].articles[0].body
    assert "- 埃森哲信息技术（大连）有限公司\n- 国际商业机器全球服务（大连）有限公司" in body
    assert "离岸业务：" in body.split("\n\n")


def test_every_sentence_of_the_demo_is_kept(demo_text: str, demo_doc: IssueDoc) -> None:
    assert len(sentences(demo_text)) > 400
    assert missing_sentences(demo_text, demo_doc) == []


def test_the_structure_survives_a_json_round_trip(demo_doc: IssueDoc) -> None:
    assert IssueDoc.from_dict(demo_doc.to_dict()) == demo_doc
