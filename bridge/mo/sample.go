package mo

import (
	"fmt"
	"maps"
	"time"

	"github.com/baybus/baybus/bridge/internal/gen"
	"github.com/baybus/baybus/schemas"
)

// maker makes realistic MO records as written: Traditional Chinese and
// Portuguese.
type maker struct{}

type pair struct{ zh, pt string }

var (
	brands = []pair{{"金龍", "Dragão Dourado"}, {"新世紀", "Novo Século"}, {"東方", "Oriente"}, {"南灣", "Praia Grande"},
		{"大三巴", "São Paulo"}, {"氹仔", "Taipa"}, {"路環", "Coloane"}, {"蓮花", "Lótus"}, {"友誼", "Amizade"}, {"濠江", "Hou Kong"}}
	trades = []struct{ name, object pair }{
		{pair{"貿易", "Comércio"}, pair{"進出口貿易", "Comércio de importação e exportação"}},
		{pair{"餐飲", "Restauração"}, pair{"餐廳經營", "Exploração de restaurantes"}},
		{pair{"建築工程", "Construção"}, pair{"土木建築工程", "Obras de construção civil"}},
		{pair{"旅遊", "Turismo"}, pair{"旅行社業務", "Agência de viagens"}},
		{pair{"物業管理", "Administração de Propriedades"}, pair{"物業管理服務", "Serviços de administração de propriedades"}},
		{pair{"科技", "Tecnologia"}, pair{"資訊科技服務", "Serviços de tecnologia da informação"}},
		{pair{"顧問", "Consultadoria"}, pair{"企業管理顧問", "Consultadoria de gestão"}},
	}
	streets = []pair{{"南灣大馬路", "Avenida da Praia Grande"}, {"新馬路", "Avenida de Almeida Ribeiro"},
		{"高士德大馬路", "Avenida de Horta e Costa"}, {"宋玉生廣場", "Alameda Dr. Carlos d'Assumpção"}, {"友誼大馬路", "Avenida da Amizade"}}
	people = []pair{{"陳大文", "Chan Tai Man"}, {"李嘉欣", "Lei Ka Ian"}, {"黃志明", "Wong Chi Meng"}, {"何美玲", "Ho Mei Leng"},
		{"梁偉強", "Leong Wai Keong"}, {"張家輝", "Cheong Ka Fai"}, {"", "Maria da Silva Fernandes"}, {"", "João Manuel Rodrigues"}}
	registry = pair{"商業及動產登記局", "Conservatória dos Registos Comercial e de Bens Móveis"}
	admin    = pair{"行政管理機關成員", "administrador"}

	certs = []struct {
		title, authority pair
		prefix           string
	}{
		{pair{"土木工程師", "Engenheiro civil"}, pair{"土地工務局", "Direcção dos Serviços de Solos e Construção Urbana"}, "DSSCU-EC"},
		{pair{"藥劑師", "Farmacêutico"}, pair{"藥物監督管理局", "Instituto para a Supervisão e Administração Farmacêutica"}, "ISAF-F"},
		{pair{"導遊", "Guia turístico"}, pair{"旅遊局", "Direcção dos Serviços de Turismo"}, "DST-G"},
	}
	licences = []struct {
		title, authority pair
		prefix           string
	}{
		{pair{"飲食場所牌照", "Licença de estabelecimento de comidas"}, pair{"市政署", "Instituto para os Assuntos Municipais"}, "IAM-EC"},
		{pair{"廣告准照", "Licença de publicidade"}, pair{"市政署", "Instituto para os Assuntos Municipais"}, "IAM-P"},
		{pair{"酒店場所牌照", "Licença de estabelecimento hoteleiro"}, pair{"旅遊局", "Direcção dos Serviços de Turismo"}, "DST-H"},
	}
	decisions = []pair{{"批准", "Deferido"}, {"附條件批准", "Deferido com condições"}}

	reasons = map[schemas.Action][]string{
		schemas.ActionSuspend:   {"Falta de pagamento da taxa anual", "Incumprimento das condições da licença"},
		schemas.ActionRevoke:    {"Cessação da actividade", "Declarações falsas no pedido"},
		schemas.ActionReinstate: {"Regularização da situação"},
		schemas.ActionExpire:    {"Termo do prazo de validade"},
		schemas.ActionAmend:     {"Alteração dos elementos registados"},
	}
)

func bi(p pair) schemas.Text {
	t := schemas.Text{schemas.LangPT: p.pt}
	if p.zh != "" {
		t[schemas.LangHant] = p.zh
	}
	return t
}

func (maker) seat(r *gen.Rand) schemas.Text {
	s := gen.Pick(r, streets)
	no, floor := 1+r.Intn(300), 1+r.Intn(25)
	return schemas.Text{
		schemas.LangHant: fmt.Sprintf("澳門%s%d號%d樓", s.zh, no, floor),
		schemas.LangPT:   fmt.Sprintf("%s, n.º %d, %d.º andar, Macau", s.pt, no, floor),
	}
}

func (m maker) person(r *gen.Rand) schemas.Party {
	return schemas.Party{Name: bi(gen.Pick(r, people)), IDKind: "mo-bir", IDNumber: r.MOBIR()}
}

func (m maker) Record(r *gen.Rand, city schemas.City, kind schemas.Kind, at time.Time, seen func(string) bool) schemas.Record {
	today := at.AddDate(0, 0, -1)
	switch kind {
	case schemas.KindBusiness:
		var id string
		for id == "" || seen(id) {
			id = fmt.Sprint(10000 + r.Intn(90000))
		}
		b, t := gen.Pick(r, brands), gen.Pick(r, trades)
		form := legalForms[gen.Pick(r, []int{0, 0, 0, 1, 2, 3})]
		est := r.Day(time.Date(1990, 1, 1, 0, 0, 0, 0, time.UTC), today.AddDate(0, 0, -30))
		rec := schemas.Record{
			ID:            id,
			EntityType:    maps.Clone(form.Text),
			TaxNumber:     "8" + r.Digits(7),
			Scope:         bi(t.object),
			Address:       m.seat(r),
			EstablishedOn: gen.ISO(est),
			Authority:     bi(registry),
			IssuedOn:      gen.ISO(r.Day(est, today)),
		}
		switch form.Code {
		case "Sociedade anónima":
			rec.Name = bi(pair{"澳門" + b.zh + t.name.zh + "股份有限公司", t.name.pt + " " + b.pt + ", S.A."})
			rec.Capital = &schemas.Money{Amount: gen.Pick(r, []string{"1000000.00", "5000000.00"}), Currency: "MOP"}
		case "Sociedade em nome colectivo":
			rec.Name = bi(pair{b.zh + t.name.zh + "無限公司", t.name.pt + " " + b.pt + " & Companhia"})
			rec.Capital = &schemas.Money{Amount: "50000.00", Currency: "MOP"}
		case "Sociedade por quotas":
			rec.Name = bi(pair{"澳門" + b.zh + t.name.zh + "有限公司", "Companhia de " + t.name.pt + " " + b.pt + ", Limitada"})
			rec.Capital = &schemas.Money{Amount: gen.Pick(r, []string{"25000.00", "100000.00", "1000000.00"}), Currency: "MOP"}
		default: // an individual: no capital, taxpayer number starting with 0
			rec.Name = bi(pair{b.zh + t.name.zh + "商行", "Loja " + t.name.pt + " " + b.pt})
			rec.TaxNumber = "0" + r.Digits(7)
		}
		for range 1 + r.Intn(3) {
			p := m.person(r)
			p.Role = bi(admin)
			rec.People = append(rec.People, p)
		}
		return rec
	case schemas.KindCertificate:
		c := gen.Pick(r, certs)
		issued := r.Day(time.Date(2010, 1, 1, 0, 0, 0, 0, time.UTC), today)
		var id string
		for id == "" || seen(id) {
			id = fmt.Sprintf("%s-%d-%s", c.prefix, issued.Year(), r.Digits(4))
		}
		p := m.person(r)
		rec := schemas.Record{
			ID:        id,
			Holder:    &p,
			Title:     bi(c.title),
			Authority: bi(c.authority),
			IssuedOn:  gen.ISO(issued),
		}
		if r.Chance(50) {
			rec.Validity = &schemas.Period{From: gen.ISO(issued), To: gen.ISO(issued.AddDate(3, 0, -1))}
		}
		return rec
	default:
		l := gen.Pick(r, licences)
		issued := r.Day(at.AddDate(-2, 0, 0), today)
		var id string
		for id == "" || seen(id) {
			id = fmt.Sprintf("%s-%d-%s", l.prefix, issued.Year(), r.Digits(5))
		}
		holder := m.person(r)
		if r.Chance(60) {
			b, t := gen.Pick(r, brands), gen.Pick(r, trades)
			holder = schemas.Party{Name: bi(pair{"澳門" + b.zh + t.name.zh + "有限公司", "Companhia de " + t.name.pt + " " + b.pt + ", Limitada"}),
				IDKind: "mo-reg", IDNumber: fmt.Sprint(10000 + r.Intn(90000))}
		}
		return schemas.Record{
			ID:        id,
			Holder:    &holder,
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
		if r.Chance(50) || len(rec.People) >= 5 {
			rec.Address = m.seat(r)
		} else {
			p := m.person(r)
			p.Role = bi(admin)
			rec.People = append(append([]schemas.Party(nil), rec.People...), p)
		}
	case schemas.KindCertificate:
		if rec.Validity != nil {
			v := *rec.Validity
			v.To = gen.ISO(at.AddDate(3, 0, 0))
			rec.Validity = &v
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
