package cn

import (
	"fmt"
	"strings"
	"time"

	"github.com/baybus/baybus/bridge/internal/gen"
	"github.com/baybus/baybus/schemas"
)

// maker makes realistic CN records as written: Simplified Chinese only; the
// bridge adds the Traditional forms when it normalizes them.
type maker struct{}

var (
	tradeNames = []string{"华腾", "鹏程", "粤海", "兴盛", "嘉信", "远航", "明辉", "瑞丰", "恒通", "泰和", "新创", "凯达", "宏远", "金桥", "聚源", "博雅", "德信", "星河", "卓越", "润达", "富源", "天健", "和美", "安达", "中拓", "领航", "海纳", "南粤", "岭南", "珠江"}
	industries = []struct{ name, scope string }{
		{"科技", "计算机软硬件的技术开发与销售；信息技术咨询服务；信息系统集成服务"},
		{"贸易", "国内贸易；货物及技术进出口；日用百货销售"},
		{"电子", "电子产品的研发与销售；电子元器件制造；货物进出口"},
		{"餐饮管理", "餐饮服务；餐饮管理；食品销售"},
		{"建筑工程", "建设工程施工；建筑装饰、装修工程；建筑材料销售"},
		{"物流", "普通货运；国际货物运输代理；仓储服务（不含危险化学品）"},
		{"文化传媒", "广告设计、代理、制作、发布；组织文化艺术交流活动；会议及展览服务"},
		{"医疗器械", "第一类医疗器械销售；第二类医疗器械销售；医疗设备租赁"},
		{"新能源科技", "新能源技术推广服务；太阳能发电技术服务；储能技术服务"},
		{"供应链管理", "供应链管理服务；国内货物运输代理；企业管理咨询"},
	}
	entityTypes = []string{"有限责任公司", "有限责任公司（自然人独资）", "有限责任公司（自然人投资或控股）", "股份有限公司（非上市）"}
	surnames    = []string{"王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭", "何", "林", "罗", "梁"}
	givenNames  = []string{"伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "洋", "艳", "勇", "军", "杰", "娟", "涛", "明", "超", "秀英", "华", "建国", "志强", "晓东", "嘉欣", "梓轩", "浩然", "雨涵"}
	roads       = []string{"深南大道", "科技园路", "人民路", "建设路", "中山路", "解放路", "新华路", "工业大道", "滨海路", "东方路"}
	capitals    = []string{"10", "50", "100", "200", "500", "1000", "5000"}

	// districts are county-level divisions of each city: name and the last
	// two digits of its GB/T 2260 code.
	districts = map[string][]struct{ name, code string }{
		"guangzhou": {{"天河区", "06"}, {"越秀区", "04"}, {"海珠区", "05"}, {"番禺区", "13"}, {"黄埔区", "12"}},
		"shenzhen":  {{"南山区", "05"}, {"福田区", "04"}, {"罗湖区", "03"}, {"宝安区", "06"}, {"龙岗区", "07"}},
		"zhuhai":    {{"香洲区", "02"}, {"斗门区", "03"}, {"金湾区", "04"}},
		"foshan":    {{"禅城区", "04"}, {"南海区", "05"}, {"顺德区", "06"}},
		"jiangmen":  {{"蓬江区", "03"}, {"江海区", "04"}, {"新会区", "05"}},
		"zhaoqing":  {{"端州区", "02"}, {"鼎湖区", "03"}, {"高要区", "04"}},
		"huizhou":   {{"惠城区", "02"}, {"惠阳区", "03"}},
		"dongguan":  {{"南城街道", "00"}, {"东城街道", "00"}, {"长安镇", "00"}, {"虎门镇", "00"}},
		"zhongshan": {{"石岐街道", "00"}, {"东区街道", "00"}, {"火炬开发区", "00"}},
	}

	certTitles = []string{"电工", "焊工", "中式烹调师", "保育师", "育婴员", "美容师", "汽车维修工", "企业人力资源管理师", "电子商务师", "茶艺师"}
	certLevels = []string{"五级/初级工", "四级/中级工", "三级/高级工", "二级/技师", "一级/高级技师"}

	approvals = []struct{ title, dept string }{
		{"食品经营许可", "市场监督管理局"},
		{"公共场所卫生许可", "卫生健康局"},
		{"建筑工程施工许可", "住房和建设局"},
		{"道路运输经营许可", "交通运输局"},
		{"排污许可", "生态环境局"},
		{"人力资源服务许可", "人力资源和社会保障局"},
	}
	decisions = []string{"准予行政许可", "准予行政许可，许可期限内应遵守相关规定"}

	reasons = map[schemas.Action][]string{
		schemas.ActionSuspend:   {"未按规定期限公示年度报告", "被列入经营异常名录", "未按规定接受监督检查"},
		schemas.ActionRevoke:    {"提交虚假材料取得登记", "成立后无正当理由超过六个月未开业", "严重违反相关法律法规"},
		schemas.ActionReinstate: {"已履行相关义务，申请恢复"},
		schemas.ActionExpire:    {"有效期届满未申请延续"},
		schemas.ActionAmend:     {"申请变更登记事项"},
	}
)

// Synthetic department codes for e-license type codes: valid USCCs made for
// the samples, not any department's real code.
var (
	deptSAMR = gen.MakeUSCC("11100000", "00000013") // market regulation
	deptMOHR = gen.MakeUSCC("11100000", "00000014") // human resources
	deptGov  = gen.MakeUSCC("11100000", "00000015") // licensing departments
)

func (maker) person(r *gen.Rand) string { return gen.Pick(r, surnames) + gen.Pick(r, givenNames) }

// authorityUSCC is the synthetic, stable USCC of a city department.
func authorityUSCC(city schemas.City, dept string) string {
	r := gen.NewRand(0, city.Token+"/"+dept)
	return gen.MakeUSCC("11"+city.Division, r.Chars("0123456789", 8))
}

func county(r *gen.Rand, city schemas.City) (name, code string) {
	d := gen.Pick(r, districts[city.Token])
	code = city.Division[:4] + d.code
	if d.code == "00" { // cities without districts: the city's own code
		code = city.Division
	}
	return d.name, code
}

func (m maker) address(r *gen.Rand, city schemas.City) string {
	name, _ := county(r, city)
	return fmt.Sprintf("广东省%s市%s%s%d号", city.NameZH, name, gen.Pick(r, roads), 1+r.Intn(300)) +
		gen.Pick(r, []string{"", fmt.Sprintf("%d栋%d室", 1+r.Intn(12), 101+r.Intn(2500)), fmt.Sprintf("%d楼", 1+r.Intn(30))})
}

func (m maker) Record(r *gen.Rand, city schemas.City, kind schemas.Kind, at time.Time, seen func(string) bool) schemas.Record {
	today := at.AddDate(0, 0, -1)
	switch kind {
	case schemas.KindBusiness:
		_, code := county(r, city)
		var id string
		for id == "" || seen(id) {
			id = r.USCC('9', '1', code)
		}
		ind := gen.Pick(r, industries)
		est := r.Day(time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), today.AddDate(0, 0, -30))
		issued := r.Day(est, today)
		rec := schemas.Record{
			ID:            id,
			Name:          hans(city.NameZH + "市" + gen.Pick(r, tradeNames) + ind.name + "有限公司"),
			EntityType:    hans(gen.Pick(r, entityTypes)),
			People:        []schemas.Party{{Name: hans(m.person(r)), Role: representative}},
			Capital:       &schemas.Money{Amount: gen.Pick(r, capitals) + "0000", Currency: "CNY"},
			EstablishedOn: gen.ISO(est),
			Validity:      &schemas.Period{From: gen.ISO(est)},
			Address:       hans(m.address(r, city)),
			Scope:         hans(ind.scope + "。"),
			Authority:     hans(city.NameZH + "市市场监督管理局"),
			IssuedOn:      gen.ISO(issued),
		}
		if r.Chance(30) {
			rec.Validity.To = gen.ISO(est.AddDate(gen.Pick(r, []int{10, 20, 30}), 0, -1))
		}
		if r.Chance(60) {
			rec.ELicenseID = r.ELicense(deptSAMR+"001", authorityUSCC(city, "samr"), issued.Year())
		}
		return rec
	case schemas.KindCertificate:
		_, code := county(r, city)
		issued := r.Day(time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC), today)
		var id string
		for id == "" || seen(id) {
			id = "S" + city.Division + fmt.Sprint(issued.Year()) + r.Digits(6)
		}
		rec := schemas.Record{
			ID:        id,
			Holder:    &schemas.Party{Name: hans(m.person(r)), IDKind: "cn-rid", IDNumber: r.CNRID(code)},
			Title:     hans(gen.Pick(r, certTitles)),
			Level:     hans(gen.Pick(r, certLevels)),
			Authority: hans(city.NameZH + "市人力资源和社会保障局"),
			IssuedOn:  gen.ISO(issued),
		}
		if r.Chance(50) {
			rec.ELicenseID = r.ELicense(deptMOHR+"002", authorityUSCC(city, "hrss"), issued.Year())
		}
		return rec
	default:
		a := gen.Pick(r, approvals)
		issued := r.Day(at.AddDate(-3, 0, 0), today)
		var id string
		for id == "" || seen(id) {
			id = fmt.Sprintf("%s-XK-%d-%s", city.Division, issued.Year(), r.Digits(6))
		}
		holder := &schemas.Party{}
		if r.Chance(70) {
			_, code := county(r, city)
			holder.Name = hans(city.NameZH + "市" + gen.Pick(r, tradeNames) + gen.Pick(r, industries).name + "有限公司")
			holder.IDKind, holder.IDNumber = "uscc", r.USCC('9', '1', code)
		} else {
			_, code := county(r, city)
			holder.Name = hans(m.person(r))
			holder.IDKind, holder.IDNumber = "cn-rid", r.CNRID(code)
		}
		rec := schemas.Record{
			ID:        id,
			Holder:    holder,
			Title:     hans(a.title),
			Decision:  hans(gen.Pick(r, decisions)),
			Authority: hans(city.NameZH + "市" + a.dept),
			IssuedOn:  gen.ISO(issued),
			Validity:  &schemas.Period{From: gen.ISO(issued), To: gen.ISO(issued.AddDate(5, 0, -1))},
		}
		if r.Chance(50) {
			rec.ELicenseID = r.ELicense(deptGov+"003", authorityUSCC(city, a.dept), issued.Year())
		}
		return rec
	}
}

func (m maker) Amend(r *gen.Rand, city schemas.City, kind schemas.Kind, rec schemas.Record, at time.Time) schemas.Record {
	day := gen.ISO(at)
	if rec.Validity != nil { // earlier events share the pointer
		v := *rec.Validity
		rec.Validity = &v
	}
	switch kind {
	case schemas.KindBusiness:
		switch r.Intn(3) {
		case 0:
			rec.Address = hans(m.address(r, city))
		case 1:
			rec.Scope = hans(strings.TrimSuffix(rec.Scope[schemas.LangHans], "。") + "；" + gen.Pick(r, industries).scope + "。")
		default:
			rec.Capital = &schemas.Money{Amount: gen.Pick(r, capitals) + "0000", Currency: "CNY"}
		}
	case schemas.KindCertificate:
		rec.Level = hans(gen.Pick(r, certLevels))
	default:
		rec.Decision = hans(gen.Pick(r, decisions))
	}
	rec.IssuedOn = day
	if rec.Validity != nil && rec.Validity.To != "" && rec.Validity.To < day {
		rec.Validity.To = ""
	}
	return rec
}

func (maker) Reason(r *gen.Rand, a schemas.Action) string { return gen.Pick(r, reasons[a]) }

func hans(s string) schemas.Text { return schemas.Text{schemas.LangHans: s} }
