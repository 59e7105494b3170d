"""English / Japanese / Thai word table behind the demo data (written for this project).

The templates in :mod:`sdrrl_ray.demo.datagen` build every demo sentence from these rows, so the
parallel files, the instruction data and the MUSE dictionaries agree word for word.
"""

from __future__ import annotations

from typing import NamedTuple, Optional


class Color(NamedTuple):
    en: str
    ja: str  # noun form (赤)
    ja_pred: str  # predicate before です: the i-adjective where one exists (赤い), else the noun
    th: str  # bare colour word; "สี" + th is the predicate (สีแดง)


class Animal(NamedTuple):
    en: str
    plural: str
    ja: str
    th: str
    legs: Optional[int]  # None: no clear leg count (fish, monkey)
    home: Optional[str]  # key of HOMES
    counter: str  # Japanese counter (匹, 羽, 頭)


class Food(NamedTuple):
    en: str
    plural: str  # plural or mass form ("apples", "rice")
    ja: str
    th: str
    kind: str  # fruit | vegetable | dish | drink


class Thing(NamedTuple):
    en: str
    plural: str
    ja: str
    th: str
    counter: str  # Japanese counter
    classifier: str  # Thai classifier


class Word(NamedTuple):
    en: str
    ja: str
    th: str


class Country(NamedTuple):
    en: str
    ja: str
    th: str  # without ประเทศ
    capital: Word
    language: Optional[str]  # key of LANGUAGES; None where several are spoken


class Season(NamedTuple):
    name: Word
    weather: Word  # en adjective, ja i-adjective, th adjective


COLORS = {
    c.en: c
    for c in [
        Color("red", "赤", "赤い", "แดง"),
        Color("blue", "青", "青い", "ฟ้า"),
        Color("green", "緑", "緑", "เขียว"),
        Color("yellow", "黄色", "黄色い", "เหลือง"),
        Color("white", "白", "白い", "ขาว"),
        Color("black", "黒", "黒い", "ดำ"),
        Color("orange", "オレンジ色", "オレンジ色", "ส้ม"),
        Color("pink", "ピンク", "ピンク", "ชมพู"),
        Color("brown", "茶色", "茶色い", "น้ำตาล"),
        Color("gray", "灰色", "灰色", "เทา"),
        Color("purple", "紫", "紫", "ม่วง"),
    ]
}

HOMES = {  # en phrase, ja place (before に住んでいます), th phrase (after อาศัยอยู่)
    "water": Word("in water", "水の中", "ในน้ำ"),
    "sea": Word("in the sea", "海", "ในทะเล"),
    "forest": Word("in the forest", "森", "ในป่า"),
    "farm": Word("on a farm", "農場", "ในฟาร์ม"),
    "house": Word("in a house", "家", "ในบ้าน"),
    "desert": Word("in the desert", "砂漠", "ในทะเลทราย"),
    "savanna": Word("on the savanna", "サバンナ", "ในทุ่งหญ้าสะวันนา"),
    "pond": Word("near a pond", "池の近く", "ใกล้บ่อน้ำ"),
    "nest": Word("in a nest", "巣", "ในรัง"),
}

ANIMALS = {
    a.en: a
    for a in [
        Animal("cat", "cats", "猫", "แมว", 4, "house", "匹"),
        Animal("dog", "dogs", "犬", "สุนัข", 4, "house", "匹"),
        Animal("horse", "horses", "馬", "ม้า", 4, "farm", "頭"),
        Animal("cow", "cows", "牛", "วัว", 4, "farm", "頭"),
        Animal("pig", "pigs", "豚", "หมู", 4, "farm", "匹"),
        Animal("sheep", "sheep", "羊", "แกะ", 4, "farm", "匹"),
        Animal("goat", "goats", "ヤギ", "แพะ", 4, "farm", "匹"),
        Animal("rabbit", "rabbits", "ウサギ", "กระต่าย", 4, None, "匹"),
        Animal("tiger", "tigers", "トラ", "เสือ", 4, "forest", "頭"),
        Animal("lion", "lions", "ライオン", "สิงโต", 4, "savanna", "頭"),
        Animal("bear", "bears", "クマ", "หมี", 4, "forest", "頭"),
        Animal("elephant", "elephants", "象", "ช้าง", 4, None, "頭"),
        Animal("giraffe", "giraffes", "キリン", "ยีราฟ", 4, "savanna", "頭"),
        Animal("deer", "deer", "シカ", "กวาง", 4, "forest", "頭"),
        Animal("mouse", "mice", "ネズミ", "หนู", 4, None, "匹"),
        Animal("frog", "frogs", "カエル", "กบ", 4, "pond", "匹"),
        Animal("camel", "camels", "ラクダ", "อูฐ", 4, "desert", "頭"),
        Animal("monkey", "monkeys", "サル", "ลิง", None, "forest", "匹"),
        Animal("bird", "birds", "鳥", "นก", 2, "nest", "羽"),
        Animal("chicken", "chickens", "ニワトリ", "ไก่", 2, "farm", "羽"),
        Animal("duck", "ducks", "アヒル", "เป็ด", 2, "pond", "羽"),
        Animal("penguin", "penguins", "ペンギン", "เพนกวิน", 2, None, "羽"),
        Animal("crow", "crows", "カラス", "อีกา", 2, None, "羽"),
        Animal("ant", "ants", "アリ", "มด", 6, None, "匹"),
        Animal("bee", "bees", "ハチ", "ผึ้ง", 6, "nest", "匹"),
        Animal("butterfly", "butterflies", "チョウ", "ผีเสื้อ", 6, None, "匹"),
        Animal("spider", "spiders", "クモ", "แมงมุม", 8, None, "匹"),
        Animal("crab", "crabs", "カニ", "ปู", 10, "sea", "匹"),
        Animal("fish", "fish", "魚", "ปลา", None, "water", "匹"),
        Animal("whale", "whales", "クジラ", "วาฬ", None, "sea", "頭"),
        Animal("dolphin", "dolphins", "イルカ", "โลมา", None, "sea", "頭"),
        Animal("shark", "sharks", "サメ", "ฉลาม", None, "sea", "匹"),
    ]
}

# Largest first: every pair gives a "which is bigger / smaller" question.
SIZE_ORDER = ("whale", "elephant", "horse", "lion", "dog", "cat", "rabbit", "mouse", "ant")

FOODS = {
    f.en: f
    for f in [
        Food("apple", "apples", "りんご", "แอปเปิล", "fruit"),
        Food("banana", "bananas", "バナナ", "กล้วย", "fruit"),
        Food("orange", "oranges", "オレンジ", "ส้ม", "fruit"),
        Food("grape", "grapes", "ぶどう", "องุ่น", "fruit"),
        Food("strawberry", "strawberries", "いちご", "สตรอว์เบอร์รี", "fruit"),
        Food("mango", "mangoes", "マンゴー", "มะม่วง", "fruit"),
        Food("pineapple", "pineapples", "パイナップル", "สับปะรด", "fruit"),
        Food("watermelon", "watermelons", "スイカ", "แตงโม", "fruit"),
        Food("peach", "peaches", "桃", "ลูกพีช", "fruit"),
        Food("papaya", "papayas", "パパイヤ", "มะละกอ", "fruit"),
        Food("cherry", "cherries", "さくらんぼ", "เชอร์รี", "fruit"),
        Food("lemon", "lemons", "レモン", "เลมอน", "fruit"),
        Food("carrot", "carrots", "にんじん", "แครอท", "vegetable"),
        Food("cabbage", "cabbage", "キャベツ", "กะหล่ำปลี", "vegetable"),
        Food("potato", "potatoes", "じゃがいも", "มันฝรั่ง", "vegetable"),
        Food("onion", "onions", "玉ねぎ", "หัวหอม", "vegetable"),
        Food("cucumber", "cucumbers", "きゅうり", "แตงกวา", "vegetable"),
        Food("spinach", "spinach", "ほうれん草", "ผักโขม", "vegetable"),
        Food("pumpkin", "pumpkins", "かぼちゃ", "ฟักทอง", "vegetable"),
        Food("eggplant", "eggplants", "なす", "มะเขือม่วง", "vegetable"),
        Food("lettuce", "lettuce", "レタス", "ผักกาดหอม", "vegetable"),
        Food("broccoli", "broccoli", "ブロッコリー", "บรอกโคลี", "vegetable"),
        Food("tomato", "tomatoes", "トマト", "มะเขือเทศ", "dish"),
        Food("rice", "rice", "ご飯", "ข้าว", "dish"),
        Food("bread", "bread", "パン", "ขนมปัง", "dish"),
        Food("noodles", "noodles", "麺", "ก๋วยเตี๋ยว", "dish"),
        Food("soup", "soup", "スープ", "ซุป", "dish"),
        Food("egg", "eggs", "卵", "ไข่", "dish"),
        Food("cheese", "cheese", "チーズ", "ชีส", "dish"),
        Food("cake", "cake", "ケーキ", "เค้ก", "dish"),
        Food("chocolate", "chocolate", "チョコレート", "ช็อกโกแลต", "dish"),
        Food("salad", "salad", "サラダ", "สลัด", "dish"),
        Food("water", "water", "水", "น้ำ", "drink"),
        Food("tea", "tea", "お茶", "ชา", "drink"),
        Food("coffee", "coffee", "コーヒー", "กาแฟ", "drink"),
        Food("milk", "milk", "牛乳", "นม", "drink"),
        Food("juice", "juice", "ジュース", "น้ำผลไม้", "drink"),
    ]
}

TASTES = {
    "sweet": Word("sweet", "甘い", "หวาน"),
    "salty": Word("salty", "しょっぱい", "เค็ม"),
    "sour": Word("sour", "酸っぱい", "เปรี้ยว"),
    "bitter": Word("bitter", "苦い", "ขม"),
    "spicy": Word("spicy", "辛い", "เผ็ด"),
}

# (English noun phrase, Japanese, Thai, taste key)
TASTE_ITEMS = (
    ("sugar", "砂糖", "น้ำตาล", "sweet"),
    ("honey", "はちみつ", "น้ำผึ้ง", "sweet"),
    ("candy", "キャンディー", "ลูกอม", "sweet"),
    ("cake", "ケーキ", "เค้ก", "sweet"),
    ("a mango", "マンゴー", "มะม่วง", "sweet"),
    ("salt", "塩", "เกลือ", "salty"),
    ("soy sauce", "しょうゆ", "ซีอิ๊ว", "salty"),
    ("a lemon", "レモン", "เลมอน", "sour"),
    ("a lime", "ライム", "มะนาว", "sour"),
    ("vinegar", "酢", "น้ำส้มสายชู", "sour"),
    ("black coffee", "ブラックコーヒー", "กาแฟดำ", "bitter"),
    ("a chili", "唐辛子", "พริก", "spicy"),
)

# (English noun phrase, Japanese, Thai, colour key): "What color is <phrase>?"
COLOR_ITEMS = (
    ("the sky", "空", "ท้องฟ้า", "blue"),
    ("the sea", "海", "ทะเล", "blue"),
    ("grass", "草", "หญ้า", "green"),
    ("a leaf", "葉っぱ", "ใบไม้", "green"),
    ("a frog", "カエル", "กบ", "green"),
    ("a banana", "バナナ", "กล้วย", "yellow"),
    ("a lemon", "レモン", "เลมอน", "yellow"),
    ("snow", "雪", "หิมะ", "white"),
    ("milk", "牛乳", "นม", "white"),
    ("a cloud", "雲", "เมฆ", "white"),
    ("salt", "塩", "เกลือ", "white"),
    ("rice", "ご飯", "ข้าว", "white"),
    ("coal", "石炭", "ถ่านหิน", "black"),
    ("a crow", "カラス", "อีกา", "black"),
    ("a tomato", "トマト", "มะเขือเทศ", "red"),
    ("a strawberry", "いちご", "สตรอว์เบอร์รี", "red"),
    ("an apple", "りんご", "แอปเปิล", "red"),
    ("a carrot", "にんじん", "แครอท", "orange"),
    ("an orange", "オレンジ", "ส้ม", "orange"),
    ("chocolate", "チョコレート", "ช็อกโกแลต", "brown"),
    ("coffee", "コーヒー", "กาแฟ", "brown"),
    ("soil", "土", "ดิน", "brown"),
    ("an elephant", "象", "ช้าง", "gray"),
    ("a mouse", "ネズミ", "หนู", "gray"),
    ("a flamingo", "フラミンゴ", "นกฟลามิงโก", "pink"),
    ("a grape", "ぶどう", "องุ่น", "purple"),
    ("an eggplant", "なす", "มะเขือม่วง", "purple"),
)

PLACES = {
    p.en: p
    for p in [
        Word("school", "学校", "โรงเรียน"),
        Word("library", "図書館", "ห้องสมุด"),
        Word("park", "公園", "สวนสาธารณะ"),
        Word("market", "市場", "ตลาด"),
        Word("hospital", "病院", "โรงพยาบาล"),
        Word("bank", "銀行", "ธนาคาร"),
        Word("station", "駅", "สถานีรถไฟ"),
        Word("museum", "博物館", "พิพิธภัณฑ์"),
        Word("restaurant", "レストラン", "ร้านอาหาร"),
        Word("beach", "海辺", "ชายหาด"),
        Word("zoo", "動物園", "สวนสัตว์"),
        Word("temple", "お寺", "วัด"),
        Word("office", "会社", "ที่ทำงาน"),
        Word("airport", "空港", "สนามบิน"),
        Word("hotel", "ホテル", "โรงแรม"),
        Word("supermarket", "スーパー", "ซูเปอร์มาร์เก็ต"),
    ]
}

THINGS = {
    t.en: t
    for t in [
        Thing("car", "cars", "車", "รถ", "台", "คัน"),
        Thing("bicycle", "bicycles", "自転車", "จักรยาน", "台", "คัน"),
        Thing("bag", "bags", "かばん", "กระเป๋า", "個", "ใบ"),
        Thing("hat", "hats", "帽子", "หมวก", "個", "ใบ"),
        Thing("shirt", "shirts", "シャツ", "เสื้อ", "枚", "ตัว"),
        Thing("umbrella", "umbrellas", "傘", "ร่ม", "本", "คัน"),
        Thing("pen", "pens", "ペン", "ปากกา", "本", "ด้าม"),
        Thing("pencil", "pencils", "鉛筆", "ดินสอ", "本", "แท่ง"),
        Thing("book", "books", "本", "หนังสือ", "冊", "เล่ม"),
        Thing("cup", "cups", "カップ", "แก้ว", "個", "ใบ"),
        Thing("ball", "balls", "ボール", "ลูกบอล", "個", "ลูก"),
        Thing("chair", "chairs", "いす", "เก้าอี้", "脚", "ตัว"),
        Thing("phone", "phones", "電話", "โทรศัพท์", "台", "เครื่อง"),
        Thing("house", "houses", "家", "บ้าน", "軒", "หลัง"),
    ]
}

COUNTRIES = {
    c.en: c
    for c in [
        Country("Japan", "日本", "ญี่ปุ่น", Word("Tokyo", "東京", "โตเกียว"), "Japanese"),
        Country("Thailand", "タイ", "ไทย", Word("Bangkok", "バンコク", "กรุงเทพฯ"), "Thai"),
        Country("France", "フランス", "ฝรั่งเศส", Word("Paris", "パリ", "ปารีส"), "French"),
        Country("England", "イギリス", "อังกฤษ", Word("London", "ロンドン", "ลอนดอน"), "English"),
        Country("Italy", "イタリア", "อิตาลี", Word("Rome", "ローマ", "โรม"), "Italian"),
        Country("Germany", "ドイツ", "เยอรมนี", Word("Berlin", "ベルリン", "เบอร์ลิน"), "German"),
        Country("Spain", "スペイン", "สเปน", Word("Madrid", "マドリード", "มาดริด"), "Spanish"),
        Country("China", "中国", "จีน", Word("Beijing", "北京", "ปักกิ่ง"), "Chinese"),
        Country("South Korea", "韓国", "เกาหลีใต้", Word("Seoul", "ソウル", "โซล"), "Korean"),
        Country("Vietnam", "ベトナム", "เวียดนาม", Word("Hanoi", "ハノイ", "ฮานอย"), "Vietnamese"),
        Country("Cambodia", "カンボジア", "กัมพูชา", Word("Phnom Penh", "プノンペン", "พนมเปญ"), "Khmer"),
        Country("Egypt", "エジプト", "อียิปต์", Word("Cairo", "カイロ", "ไคโร"), "Arabic"),
        Country("Russia", "ロシア", "รัสเซีย", Word("Moscow", "モスクワ", "มอสโก"), "Russian"),
        Country("Canada", "カナダ", "แคนาดา", Word("Ottawa", "オタワ", "ออตตาวา"), None),
        Country("Australia", "オーストラリア", "ออสเตรเลีย", Word("Canberra", "キャンベラ", "แคนเบอร์รา"), "English"),
        Country("India", "インド", "อินเดีย", Word("New Delhi", "ニューデリー", "นิวเดลี"), None),
        Country("Brazil", "ブラジル", "บราซิล", Word("Brasilia", "ブラジリア", "บราซิเลีย"), "Portuguese"),
        Country("Mexico", "メキシコ", "เม็กซิโก", Word("Mexico City", "メキシコシティ", "เม็กซิโกซิตี"), "Spanish"),
        Country("Indonesia", "インドネシア", "อินโดนีเซีย", Word("Jakarta", "ジャカルタ", "จาการ์ตา"), "Indonesian"),
        Country("Poland", "ポーランド", "โปแลนด์", Word("Warsaw", "ワルシャワ", "วอร์ซอ"), "Polish"),
        Country("Ukraine", "ウクライナ", "ยูเครน", Word("Kyiv", "キーウ", "เคียฟ"), "Ukrainian"),
        Country("Portugal", "ポルトガル", "โปรตุเกส", Word("Lisbon", "リスボン", "ลิสบอน"), "Portuguese"),
        Country("Greece", "ギリシャ", "กรีซ", Word("Athens", "アテネ", "เอเธนส์"), "Greek"),
        Country("Norway", "ノルウェー", "นอร์เวย์", Word("Oslo", "オスロ", "ออสโล"), "Norwegian"),
        Country("Finland", "フィンランド", "ฟินแลนด์", Word("Helsinki", "ヘルシンキ", "เฮลซิงกิ"), "Finnish"),
        Country("Denmark", "デンマーク", "เดนมาร์ก", Word("Copenhagen", "コペンハーゲン", "โคเปนเฮเกน"), "Danish"),
        Country("Hungary", "ハンガリー", "ฮังการี", Word("Budapest", "ブダペスト", "บูดาเปสต์"), "Hungarian"),
        Country("Czechia", "チェコ", "เช็กเกีย", Word("Prague", "プラハ", "ปราก"), "Czech"),
    ]
}

LANGUAGES = {  # Thai names carry their ภาษา prefix
    w.en: w
    for w in [
        Word("Japanese", "日本語", "ภาษาญี่ปุ่น"),
        Word("Thai", "タイ語", "ภาษาไทย"),
        Word("French", "フランス語", "ภาษาฝรั่งเศส"),
        Word("English", "英語", "ภาษาอังกฤษ"),
        Word("Italian", "イタリア語", "ภาษาอิตาลี"),
        Word("German", "ドイツ語", "ภาษาเยอรมัน"),
        Word("Spanish", "スペイン語", "ภาษาสเปน"),
        Word("Chinese", "中国語", "ภาษาจีน"),
        Word("Korean", "韓国語", "ภาษาเกาหลี"),
        Word("Vietnamese", "ベトナム語", "ภาษาเวียดนาม"),
        Word("Khmer", "クメール語", "ภาษาเขมร"),
        Word("Arabic", "アラビア語", "ภาษาอาหรับ"),
        Word("Russian", "ロシア語", "ภาษารัสเซีย"),
        Word("Portuguese", "ポルトガル語", "ภาษาโปรตุเกส"),
        Word("Indonesian", "インドネシア語", "ภาษาอินโดนีเซีย"),
        Word("Polish", "ポーランド語", "ภาษาโปแลนด์"),
        Word("Ukrainian", "ウクライナ語", "ภาษายูเครน"),
        Word("Greek", "ギリシャ語", "ภาษากรีก"),
        Word("Norwegian", "ノルウェー語", "ภาษานอร์เวย์"),
        Word("Finnish", "フィンランド語", "ภาษาฟินแลนด์"),
        Word("Danish", "デンマーク語", "ภาษาเดนมาร์ก"),
        Word("Hungarian", "ハンガリー語", "ภาษาฮังการี"),
        Word("Czech", "チェコ語", "ภาษาเช็ก"),
    ]
}

RELATIVES = (  # "My <en> is ..."
    Word("mother", "母", "แม่"),
    Word("father", "父", "พ่อ"),
    Word("older sister", "姉", "พี่สาว"),
    Word("older brother", "兄", "พี่ชาย"),
    Word("friend", "友達", "เพื่อน"),
    Word("uncle", "おじ", "ลุง"),
    Word("aunt", "おば", "ป้า"),
)

JOBS = (
    Word("teacher", "先生", "ครู"),
    Word("doctor", "医者", "หมอ"),
    Word("nurse", "看護師", "พยาบาล"),
    Word("chef", "シェフ", "เชฟ"),
    Word("farmer", "農家", "ชาวนา"),
    Word("student", "学生", "นักเรียน"),
    Word("engineer", "エンジニア", "วิศวกร"),
    Word("police officer", "警察官", "ตำรวจ"),
    Word("driver", "運転手", "คนขับรถ"),
    Word("singer", "歌手", "นักร้อง"),
)

DAYS = (
    Word("Monday", "月曜日", "วันจันทร์"),
    Word("Tuesday", "火曜日", "วันอังคาร"),
    Word("Wednesday", "水曜日", "วันพุธ"),
    Word("Thursday", "木曜日", "วันพฤหัสบดี"),
    Word("Friday", "金曜日", "วันศุกร์"),
    Word("Saturday", "土曜日", "วันเสาร์"),
    Word("Sunday", "日曜日", "วันอาทิตย์"),
)

MONTHS = (
    Word("January", "1月", "มกราคม"),
    Word("February", "2月", "กุมภาพันธ์"),
    Word("March", "3月", "มีนาคม"),
    Word("April", "4月", "เมษายน"),
    Word("May", "5月", "พฤษภาคม"),
    Word("June", "6月", "มิถุนายน"),
    Word("July", "7月", "กรกฎาคม"),
    Word("August", "8月", "สิงหาคม"),
    Word("September", "9月", "กันยายน"),
    Word("October", "10月", "ตุลาคม"),
    Word("November", "11月", "พฤศจิกายน"),
    Word("December", "12月", "ธันวาคม"),
)

SEASONS = (
    Season(Word("spring", "春", "ฤดูใบไม้ผลิ"), Word("warm", "暖かい", "อบอุ่น")),
    Season(Word("summer", "夏", "ฤดูร้อน"), Word("hot", "暑い", "ร้อน")),
    Season(Word("autumn", "秋", "ฤดูใบไม้ร่วง"), Word("cool", "涼しい", "เย็นสบาย")),
    Season(Word("winter", "冬", "ฤดูหนาว"), Word("cold", "寒い", "หนาว")),
)

# Weather today: (en adjective or phrase after "It is", ja predicate, th predicate after วันนี้)
WEATHER = (
    Word("hot", "暑いです", "อากาศร้อน"),
    Word("cold", "寒いです", "อากาศหนาว"),
    Word("warm", "暖かいです", "อากาศอบอุ่น"),
    Word("cool", "涼しいです", "อากาศเย็นสบาย"),
    Word("raining", "雨が降っています", "ฝนตก"),
    Word("snowing", "雪が降っています", "หิมะตก"),
    Word("windy", "風が強いです", "ลมแรง"),
    Word("sunny", "晴れです", "แดดออก"),
    Word("cloudy", "曇りです", "มีเมฆมาก"),
)

# Opposite pairs; both directions are asked unless the second word has several opposites.
OPPOSITES = (
    (Word("hot", "暑い", "ร้อน"), Word("cold", "寒い", "หนาว"), True),
    (Word("big", "大きい", "ใหญ่"), Word("small", "小さい", "เล็ก"), True),
    (Word("tall", "高い", "สูง"), Word("short", "低い", "เตี้ย"), False),
    (Word("long", "長い", "ยาว"), Word("short", "短い", "สั้น"), False),
    (Word("fast", "速い", "เร็ว"), Word("slow", "遅い", "ช้า"), True),
    (Word("new", "新しい", "ใหม่"), Word("old", "古い", "เก่า"), False),
    (Word("heavy", "重い", "หนัก"), Word("light", "軽い", "เบา"), False),
    (Word("happy", "うれしい", "ดีใจ"), Word("sad", "悲しい", "เสียใจ"), True),
    (Word("day", "昼", "กลางวัน"), Word("night", "夜", "กลางคืน"), True),
    (Word("open", "開ける", "เปิด"), Word("close", "閉める", "ปิด"), True),
    (Word("strong", "強い", "แข็งแรง"), Word("weak", "弱い", "อ่อนแอ"), True),
    (Word("easy", "簡単", "ง่าย"), Word("difficult", "難しい", "ยาก"), True),
    (Word("full", "いっぱい", "เต็ม"), Word("empty", "空っぽ", "ว่าง"), True),
    (Word("bright", "明るい", "สว่าง"), Word("dark", "暗い", "มืด"), True),
    (Word("up", "上", "ขึ้น"), Word("down", "下", "ลง"), True),
    (Word("left", "左", "ซ้าย"), Word("right", "右", "ขวา"), True),
    (Word("rich", "金持ち", "รวย"), Word("poor", "貧乏", "จน"), True),
    (Word("clean", "きれい", "สะอาด"), Word("dirty", "汚い", "สกปรก"), True),
    (Word("buy", "買う", "ซื้อ"), Word("sell", "売る", "ขาย"), True),
    (Word("come", "来る", "มา"), Word("go", "行く", "ไป"), True),
    (Word("win", "勝つ", "ชนะ"), Word("lose", "負ける", "แพ้"), True),
    (Word("near", "近い", "ใกล้"), Word("far", "遠い", "ไกล"), True),
    (Word("inside", "中", "ข้างใน"), Word("outside", "外", "ข้างนอก"), True),
)

# Other words the hand-written facts use, listed so that the dictionaries cover them.
EXTRA_WORDS = (
    Word("week", "週", "สัปดาห์"),
    Word("year", "年", "ปี"),
    Word("month", "月", "เดือน"),
    Word("hour", "時間", "ชั่วโมง"),
    Word("minute", "分", "นาที"),
    Word("day", "日", "วัน"),
    Word("honey", "はちみつ", "น้ำผึ้ง"),
    Word("sugar", "砂糖", "น้ำตาล"),
    Word("salt", "塩", "เกลือ"),
    Word("vinegar", "酢", "น้ำส้มสายชู"),
    Word("candy", "キャンディー", "ลูกอม"),
    Word("lime", "ライム", "มะนาว"),
    Word("chili", "唐辛子", "พริก"),
    Word("sky", "空", "ท้องฟ้า"),
    Word("sea", "海", "ทะเล"),
    Word("grass", "草", "หญ้า"),
    Word("leaf", "葉っぱ", "ใบไม้"),
    Word("snow", "雪", "หิมะ"),
    Word("cloud", "雲", "เมฆ"),
    Word("coal", "石炭", "ถ่านหิน"),
    Word("soil", "土", "ดิน"),
    Word("flamingo", "フラミンゴ", "นกฟลามิงโก"),
    Word("forest", "森", "ป่า"),
    Word("farm", "農場", "ฟาร์ม"),
    Word("desert", "砂漠", "ทะเลทราย"),
    Word("pond", "池", "บ่อน้ำ"),
    Word("nest", "巣", "รัง"),
    Word("sun", "太陽", "ดวงอาทิตย์"),
    Word("moon", "月", "ดวงจันทร์"),
    Word("star", "星", "ดาว"),
    Word("ice", "氷", "น้ำแข็ง"),
    Word("rain", "雨", "ฝน"),
    Word("umbrella", "傘", "ร่ม"),
    Word("coat", "コート", "เสื้อโค้ท"),
    Word("scissors", "はさみ", "กรรไกร"),
    Word("paper", "紙", "กระดาษ"),
    Word("mountain", "山", "ภูเขา"),
    Word("river", "川", "แม่น้ำ"),
    Word("rainbow", "虹", "รุ้งกินน้ำ"),
    Word("kitten", "子猫", "ลูกแมว"),
    Word("puppy", "子犬", "ลูกสุนัข"),
    Word("east", "東", "ตะวันออก"),
    Word("west", "西", "ตะวันตก"),
    Word("plant", "植物", "พืช"),
    Word("light", "光", "แสง"),
    Word("color", "色", "สี"),
    Word("capital", "首都", "เมืองหลวง"),
    Word("language", "言語", "ภาษา"),
    Word("fruit", "果物", "ผลไม้"),
    Word("vegetable", "野菜", "ผัก"),
    Word("leg", "足", "ขา"),
    Word("animal", "動物", "สัตว์"),
    Word("today", "今日", "วันนี้"),
    Word("weather", "天気", "อากาศ"),
)

EN_NUMBERS = (
    "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen "
    "sixteen seventeen eighteen nineteen"
).split()
EN_TENS = "_ _ twenty thirty forty fifty sixty seventy eighty ninety".split()
JA_NUMBERS = "〇 一 二 三 四 五 六 七 八 九 十 十一 十二".split()  # kanji numerals 0..12
TH_DIGITS = "ศูนย์ หนึ่ง สอง สาม สี่ ห้า หก เจ็ด แปด เก้า".split()


def en_number(n: int) -> str:
    """English words for 0 <= n < 100 ("twenty-four")."""
    if n < 20:
        return EN_NUMBERS[n]
    tens, units = divmod(n, 10)
    return EN_TENS[tens] + (f"-{EN_NUMBERS[units]}" if units else "")


def th_number(n: int) -> str:
    """Thai words for 0 <= n < 100 (ยี่สิบเอ็ด)."""
    if n < 10:
        return TH_DIGITS[n]
    tens, units = divmod(n, 10)
    head = {1: "สิบ", 2: "ยี่สิบ"}.get(tens, TH_DIGITS[tens] + "สิบ")
    return head + ("" if units == 0 else "เอ็ด" if units == 1 else TH_DIGITS[units])


def article(noun: str) -> str:
    """``noun`` with its indefinite article ("an elephant")."""
    return ("an " if noun[0] in "aeiou" else "a ") + noun
