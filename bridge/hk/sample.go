package hk

import (
	"fmt"
	"maps"
	"time"

	"github.com/baybus/baybus/bridge/internal/gen"
	"github.com/baybus/baybus/schemas"
)

// maker makes realistic HK records as written: Traditional Chinese (Hong Kong
// usage) and English.
type maker struct{}

type pair struct{ zh, en string }

var (
	brands = []pair{{"金", "Golden"}, {"海港", "Harbour"}, {"太平洋", "Pacific"}, {"維多利亞", "Victoria"}, {"東方", "Orient"},
		{"龍騰", "Dragon"}, {"翡翠", "Jade"}, {"蓮花", "Lotus"}, {"鳳凰", "Phoenix"}, {"明珠", "Pearl"}, {"峰景", "Summit"},
		{"九龍", "Kowloon"}, {"獅子山", "Lion Rock"}, {"銀河", "Galaxy"}, {"長青", "Evergreen"}}
	trades = []struct{ name, nature pair }{
		{pair{"貿易", "Trading"}, pair{"電子零件貿易", "TRADING OF ELECTRONIC COMPONENTS"}},
		{pair{"科技", "Technology"}, pair{"資訊科技顧問", "INFORMATION TECHNOLOGY CONSULTANCY"}},
		{pair{"物流", "Logistics"}, pair{"貨運代理", "FREIGHT FORWARDING"}},
		{pair{"飲食", "Catering"}, pair{"餐廳", "RESTAURANT"}},
		{pair{"工程", "Engineering"}, pair{"樓宇維修工程", "BUILDING MAINTENANCE WORKS"}},
		{pair{"顧問", "Consultants"}, pair{"企業管理顧問", "MANAGEMENT CONSULTANCY"}},
		{pair{"紡織", "Textiles"}, pair{"成衣批發", "GARMENT WHOLESALE"}},
		{pair{"珠寶", "Jewellery"}, pair{"珠寶零售", "JEWELLERY RETAIL"}},
		{pair{"印刷", "Printing"}, pair{"印刷服務", "PRINTING SERVICES"}},
	}
	streets = []struct{ road, area pair }{
		{pair{"彌敦道", "Nathan Road"}, pair{"九龍尖沙咀", "Tsim Sha Tsui, Kowloon"}},
		{pair{"皇后大道中", "Queen's Road Central"}, pair{"香港中環", "Central, Hong Kong"}},
		{pair{"軒尼詩道", "Hennessy Road"}, pair{"香港灣仔", "Wan Chai, Hong Kong"}},
		{pair{"英皇道", "King's Road"}, pair{"香港北角", "North Point, Hong Kong"}},
		{pair{"青山公路", "Castle Peak Road"}, pair{"新界荃灣", "Tsuen Wan, New Territories"}},
		{pair{"亞皆老街", "Argyle Street"}, pair{"九龍旺角", "Mong Kok, Kowloon"}},
		{pair{"海濱道", "Hoi Bun Road"}, pair{"九龍觀塘", "Kwun Tong, Kowloon"}},
	}
	people = []pair{{"陳大文", "CHAN Tai Man"}, {"李小芳", "LEE Siu Fong"}, {"黃志明", "WONG Chi Ming"}, {"何美玲", "HO Mei Ling"},
		{"梁偉強", "LEUNG Wai Keung"}, {"張家輝", "CHEUNG Ka Fai"}, {"林嘉欣", "LAM Ka Yan"}, {"周國強", "CHOW Kwok Keung"}}
	brOffice = pair{"稅務局商業登記署", "Business Registration Office, Inland Revenue Department"}

	certs = []struct {
		title, authority pair
		grades           []pair
		prefix           string
	}{
		{pair{"註冊電業工程人員", "Registered Electrical Worker"}, pair{"機電工程署", "Electrical and Mechanical Services Department"},
			[]pair{{"A級", "Grade A"}, {"B級", "Grade B"}, {"H級", "Grade H"}}, "REW"},
		{pair{"註冊護士", "Registered Nurse"}, pair{"香港護士管理局", "The Nursing Council of Hong Kong"}, nil, "RN"},
		{pair{"註冊社會工作者", "Registered Social Worker"}, pair{"社會工作者註冊局", "Social Workers Registration Board"}, nil, "RSW"},
		{pair{"註冊氣體工程技術員", "Registered Gas Installer"}, pair{"機電工程署", "Electrical and Mechanical Services Department"},
			[]pair{{"第1類", "Class 1"}, {"第2類", "Class 2"}}, "RGI"},
	}
	licences = []struct {
		title, authority pair
		prefix           string
	}{
		{pair{"普通食肆牌照", "General Restaurant Licence"}, pair{"食物環境衞生署", "Food and Environmental Hygiene Department"}, "FEHD-GR"},
		{pair{"小食食肆牌照", "Light Refreshment Restaurant Licence"}, pair{"食物環境衞生署", "Food and Environmental Hygiene Department"}, "FEHD-LR"},
		{pair{"酒牌", "Liquor Licence"}, pair{"酒牌局", "Liquor Licensing Board"}, "LLB"},
		{pair{"旅館牌照", "Hotel Licence"}, pair{"民政事務總署牌照事務處", "Office of the Licensing Authority, Home Affairs Department"}, "OLA-H"},
	}
	decisions = []pair{{"批准", "Approved"}, {"有條件批准", "Approved with conditions"}}

	reasons = map[schemas.Action][]string{
		schemas.ActionSuspend:   {"Licence conditions breached", "Fee outstanding"},
		schemas.ActionRevoke:    {"Business ceased", "Obtained by false information", "Repeated breaches of licence conditions"},
		schemas.ActionReinstate: {"Conditions complied with"},
		schemas.ActionExpire:    {"Not renewed before expiry"},
		schemas.ActionAmend:     {"Change of particulars notified"},
	}
)

func bi(p pair) schemas.Text { return schemas.Text{schemas.LangHant: p.zh, schemas.LangEN: p.en} }

func (maker) address(r *gen.Rand) schemas.Text {
	s := gen.Pick(r, streets)
	no, floor, flat := 1+r.Intn(400), 1+r.Intn(40), fmt.Sprintf("%d%c", 1+r.Intn(20), 'A'+r.Intn(8))
	return schemas.Text{
		schemas.LangHant: fmt.Sprintf("%s%s%d號%d樓%s室", s.area.zh, s.road.zh, no, floor, flat),
		schemas.LangEN:   fmt.Sprintf("Flat %s, %d/F, %d %s, %s", flat, floor, no, s.road.en, s.area.en),
	}
}

func (m maker) Record(r *gen.Rand, city schemas.City, kind schemas.Kind, at time.Time, seen func(string) bool) schemas.Record {
	today := at.AddDate(0, 0, -1)
	switch kind {
	case schemas.KindBusiness:
		var id string
		for id == "" || seen(id) {
			id = fmt.Sprint(3+r.Intn(7)) + r.Digits(7)
		}
		b, t := gen.Pick(r, brands), gen.Pick(r, trades)
		status := legalStatuses[r.Intn(len(legalStatuses))]
		name := pair{b.zh + t.name.zh, b.en + " " + t.name.en}
		switch status.Code {
		case "CORP":
			name.zh, name.en = name.zh+"有限公司", name.en+" Limited"
		case "SOLE":
			name.zh, name.en = name.zh+"公司", name.en+" Company"
		default:
			name.zh, name.en = name.zh+"行", name.en+" & Co."
		}
		est := r.Day(time.Date(1995, 1, 1, 0, 0, 0, 0, time.UTC), today.AddDate(0, 0, -30))
		from := r.Day(today.AddDate(-1, 0, 1), today)
		years := gen.Pick(r, []int{1, 1, 1, 3})
		to := from.AddDate(years, 0, -1)
		fee, levy := "2200.00", "150.00"
		if years == 3 {
			fee, levy = "5950.00", "450.00"
		}
		rec := schemas.Record{
			ID:            id,
			CertificateNo: fmt.Sprintf("%s-000-%02d-%02d-%s", id, int(to.Month()), to.Year()%100, r.Chars("0123456789ABCDEFGHJKLMNPQRSTUVWXYZ", 1)),
			Name:          bi(name),
			EntityType:    maps.Clone(status.Text),
			Scope:         bi(t.nature),
			Address:       m.address(r),
			EstablishedOn: gen.ISO(est),
			Validity:      &schemas.Period{From: gen.ISO(from), To: gen.ISO(to)},
			Fee:           &schemas.Money{Amount: fee, Currency: "HKD"},
			Levy:          &schemas.Money{Amount: levy, Currency: "HKD"},
			Authority:     bi(brOffice),
			IssuedOn:      gen.ISO(r.Day(from.AddDate(0, 0, -30), from)),
		}
		if r.Chance(25) { // many businesses register an English name only
			delete(rec.Name, schemas.LangHant)
			delete(rec.Scope, schemas.LangHant)
		}
		if rec.IssuedOn > gen.ISO(today) {
			rec.IssuedOn = gen.ISO(today)
		}
		return rec
	case schemas.KindCertificate:
		c := gen.Pick(r, certs)
		issued := r.Day(time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC), today)
		var id string
		for id == "" || seen(id) {
			id = c.prefix + "-" + r.Digits(6)
		}
		p := gen.Pick(r, people)
		rec := schemas.Record{
			ID:        id,
			Holder:    &schemas.Party{Name: bi(p), IDKind: "hkid", IDNumber: r.HKID()},
			Title:     bi(c.title),
			Authority: bi(c.authority),
			IssuedOn:  gen.ISO(issued),
			Validity:  &schemas.Period{From: gen.ISO(issued), To: gen.ISO(issued.AddDate(5, 0, -1))},
		}
		if c.grades != nil {
			rec.Level = bi(gen.Pick(r, c.grades))
		}
		return rec
	default:
		l := gen.Pick(r, licences)
		issued := r.Day(at.AddDate(-2, 0, 0), today)
		var id string
		for id == "" || seen(id) {
			id = fmt.Sprintf("%s-%d-%s", l.prefix, issued.Year(), r.Digits(5))
		}
		holder := &schemas.Party{}
		if r.Chance(70) {
			b, t := gen.Pick(r, brands), gen.Pick(r, trades)
			holder.Name = bi(pair{b.zh + t.name.zh + "有限公司", b.en + " " + t.name.en + " Limited"})
			holder.IDKind, holder.IDNumber = "hk-brn", fmt.Sprint(3+r.Intn(7))+r.Digits(7)
		} else {
			holder.Name = bi(gen.Pick(r, people))
			holder.IDKind, holder.IDNumber = "hkid", r.HKID()
		}
		return schemas.Record{
			ID:        id,
			Holder:    holder,
			Title:     bi(l.title),
			Decision:  bi(gen.Pick(r, decisions)),
			Authority: bi(l.authority),
			IssuedOn:  gen.ISO(issued),
			Validity:  &schemas.Period{From: gen.ISO(issued), To: gen.ISO(issued.AddDate(1, 0, -1))},
		}
	}
}

func (m maker) Amend(r *gen.Rand, city schemas.City, kind schemas.Kind, rec schemas.Record, at time.Time) schemas.Record {
	switch kind {
	case schemas.KindBusiness:
		if r.Chance(50) {
			rec.Address = m.address(r)
		} else {
			rec.Scope = bi(gen.Pick(r, trades).nature)
		}
	case schemas.KindCertificate:
		if rec.Level != nil {
			for _, c := range certs {
				if c.title.en == rec.Title[schemas.LangEN] && c.grades != nil {
					rec.Level = bi(gen.Pick(r, c.grades))
				}
			}
		}
	default:
		rec.Decision = bi(gen.Pick(r, decisions))
	}
	if day := gen.ISO(at); day > rec.IssuedOn {
		rec.IssuedOn = day
	}
	return rec
}

func (maker) Reason(r *gen.Rand, a schemas.Action) string { return gen.Pick(r, reasons[a]) }
